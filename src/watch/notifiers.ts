/**
 * The kernel notification mechanisms a cgroup can be watched with, chosen
 * per cgroup from its memory controller's version and what this process can
 * do. inotify works on v2 files; v1 needs eventfd (native addon); when the
 * addon is unavailable v1 falls back to polling, and says so.
 */
import fs from "node:fs";
import type { Observable } from "rxjs";
import type { PressureResource, V1PressureLevel } from "../events/types.js";
import type { Wake } from "../sources/types.js";

/** Native-backed notifiers (src/native); each Observable owns and closes its fds. */
export interface NativeNotifiers {
  /**
   * v1: eventfd on memory.oom_control. `dir` is the cgroup's absolute memory
   * directory; `confirmed(notifiedAt)` ends a notification's follow-up
   * re-reads once its oom_kill was counted.
   */
  v1Oom(dir: string, cgroup: string, confirmed?: (notifiedAt: number) => boolean): Observable<Wake>;
  /**
   * v1: a usage threshold at the soft limit, re-armed when the soft limit
   * changes; `fresh` (created while watched) re-reads it soon as well, since
   * an engine writes it after the mkdir.
   */
  v1Reservation(dir: string, cgroup: string, fresh?: boolean): Observable<Wake>;
  /** v1: memory.pressure_level registration. */
  v1PressureLevel(dir: string, cgroup: string, level: V1PressureLevel): Observable<Wake>;
  /** v2: a PSI trigger ("some 150000 1000000") on <resource>.pressure. */
  psiTrigger(pressureFile: string, cgroup: string, resource: PressureResource, trigger: string): Observable<Wake>;
}

export type NotifierMode = "inotify" | "eventfd" | "poll";

/** How one cgroup's memory signals reach cgwatch, for `cgwatch status` and metrics. */
export function notifierFor(memoryVersion: 1 | 2 | null, native: boolean): NotifierMode {
  if (memoryVersion === 2) return "inotify";
  if (memoryVersion === 1 && native) return "eventfd";
  return "poll";
}

/**
 * The memory controller version of a cgroup that exists in the memory
 * hierarchy, or null when it does not: on a v1 or hybrid host a path can
 * exist only in the cpu (or pids) hierarchy, and it must then be neither
 * reported nor registered as a memory cgroup.
 */
export function memoryVersionOnDisk(tracker: {
  readonly memoryVersion: 1 | 2 | null;
  fileOf(controller: "memory", file: string): string | null;
}): 1 | 2 | null {
  if (tracker.memoryVersion === null) return null;
  const dir = tracker.fileOf("memory", "");
  return dir !== null && fs.existsSync(dir) ? tracker.memoryVersion : null;
}
