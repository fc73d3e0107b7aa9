/**
 * inotify watch of one control file, through Node's fs.watch (libuv keeps
 * one inotify fd per loop; the npm `inotify` package does not build on Node
 * 20). On cgroup v2, kernfs raises IN_MODIFY on memory.events, pids.events,
 * cgroup.events and friends when their counters change; on v1 files the
 * kernel never notifies (v1 needs eventfd). Each emission means only
 * "re-read the file": identical unread events are merged by the kernel.
 *
 * Notifications are only noted where libuv delivers them, and the wake is
 * emitted from a setImmediate: libuv reads the inotify fd in a loop until it
 * is empty, running every callback inside that loop, so a file that changes
 * faster than its wake is handled (memory.events of a cgroup throttled at
 * memory.high: up to every 10 ms, each wake a re-read, a policy call and a
 * log line) kept the whole event loop inside that read loop. Every other fd
 * waited: a PSI trigger's wake was handled ~300-600 ms late in the VM tier.
 * Now the read loop ends at once, and all the notifications noted before
 * the wake runs are covered by its one re-read.
 */
import fs from "node:fs";
import { Observable } from "rxjs";
import type { Wake } from "./types.js";

export interface FileWatchOptions {
  /** Keep the process alive while watching (true for the daemon, false in tests/tools). */
  readonly persistent?: boolean;
  readonly now?: () => number;
}

/**
 * Emits a `file_changed` wake per burst of inotify notifications (see
 * above), timed at the burst's first. If the file does not
 * exist (the cgroup is already gone) the Observable completes at once: the
 * cgroup's removal is discovery's business, not an error.
 */
export function fileWakes(
  cgroup: string,
  file: string,
  absPath: string,
  options: FileWatchOptions = {},
): Observable<Wake> {
  const now = options.now ?? (() => performance.now());
  return new Observable<Wake>((subscriber) => {
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(absPath, { persistent: options.persistent ?? true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENODEV" || code === "ENOTDIR") subscriber.complete();
      else subscriber.error(err);
      return;
    }
    /** When the first notification not yet covered by a wake arrived (the wake's `at`). */
    let noted: number | null = null;
    let immediate: NodeJS.Immediate | null = null;
    const wake = (): void => {
      immediate = null;
      const at = noted;
      noted = null;
      if (at !== null) subscriber.next({ kind: "file_changed", cgroup, file, source: "inotify", at });
    };
    watcher.on("change", () => {
      if (noted !== null) return;
      noted = now();
      immediate = setImmediate(wake);
    });
    // A watch error (e.g. the inotify watch went away) ends this file's
    // stream quietly; the safety-net sweep keeps re-reading the file.
    watcher.on("error", () => subscriber.complete());
    return () => {
      if (immediate !== null) clearImmediate(immediate);
      watcher.close();
    };
  });
}
