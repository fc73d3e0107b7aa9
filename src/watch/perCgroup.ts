/**
 * One cgroup's life in the watch loop, from discovery's `added` to its
 * removal: a tracker, a baseline read, its wake sources handled through the
 * tracker, the settings re-checks of a cgroup created while watched, and on
 * removal one final read (its last OOM kill must not be lost), then
 * `cgroup_removed`.
 */
import { EMPTY, NEVER, Subject, concat, defer, from, merge, mergeMap, takeUntil, timer, type Observable } from "rxjs";
import type { WatchdogEvent } from "../events/types.js";
import { memoryVersionOnDisk, type NotifierMode } from "./notifiers.js";
import { notifierFor } from "./notifiers.js";
import { createTracker, type CgroupTracker, type TrackerOptions } from "./tracker.js";
import { wakesFor, type WakeOptions } from "./wakes.js";

/**
 * After `cgroup_added`, a new cgroup's settings are re-read on this schedule
 * (ms) and on the next poll: runc (docker, podman, containerd) creates the
 * cgroup, then writes cpu.cfs_quota_us and the limits, so at discovery the
 * quota usually still reads -1 and cpu.stat would not be polled until the
 * next safety net.
 */
// (runc writes them once the container's init has set itself up: 0.1-0.6 s
// after the mkdir on a quiet host, and more than 1 s when several containers
// start on a loaded one (measured: load 16 on 2 cores), hence the late reads.)
export const SETTINGS_RECHECK_MS: readonly number[] = [50, 250, 1000, 2500, 5000];

/** What the per-cgroup streams share with the watcher. */
export interface CgroupBook {
  readonly trackers: Map<string, CgroupTracker>;
  readonly modes: Map<string, NotifierMode>;
  readonly removals: Map<string, Subject<void>>;
  /** Cgroups added lately, until when their settings are re-checked by the poll too. */
  readonly fresh: Map<string, number>;
  /** Runs a tracker call, reporting a throw as a source error of the cgroup. */
  safely(cgroup: string, what: string, fn: () => WatchdogEvent[]): WatchdogEvent[];
  /** Counted for the storm detector. */
  onWake(): void;
  readonly now: () => number;
}

export interface AddedCgroup {
  readonly cgroup: string;
  readonly at: number;
  /** Created while watched: its counters count from 0 and its settings may still be being written. */
  readonly born: boolean;
}

/** Re-reads a tracker's quota; a quota that just appeared gets its cpu.stat baseline now. */
export function recheckSettings(t: CgroupTracker, now: () => number): WatchdogEvent[] {
  const had = t.hasCpuQuota();
  t.refreshQuota();
  return !had && t.hasCpuQuota() ? t.sweepCpu(now()) : [];
}

/** The first read is the baseline (counters are history); a cgroup already under OOM is reported, since it is stalled right now. */
function baselineOf(tracker: CgroupTracker, at: number): WatchdogEvent[] {
  tracker.refreshQuota();
  const ev = tracker.sweepCounters(at, "poll");
  if (tracker.hasCpuQuota()) tracker.sweepCpu(at);
  return ev;
}

/** The cgroup's events until its removal, then its farewell. */
export function cgroupEvents(added: AddedCgroup, trackerOptions: Omit<TrackerOptions, "cgroup" | "bornWatched">, wakeOptions: WakeOptions, book: CgroupBook, pollIntervalMs: number): Observable<WatchdogEvent> {
  const { cgroup, at, born } = added;
  const tracker = createTracker({ ...trackerOptions, cgroup, bornWatched: born });
  book.trackers.set(cgroup, tracker);
  const removed = new Subject<void>();
  book.removals.set(cgroup, removed);
  const baseline = book.safely(cgroup, "baseline", () => baselineOf(tracker, at));
  const addedEvent: WatchdogEvent = { kind: "cgroup_added", cgroup, at, source: "inotify" };
  // Only a cgroup created while watched can still be being set up
  // (at startup 10k cgroups would cost 30k timers for nothing).
  if (born) book.fresh.set(cgroup, at + (SETTINGS_RECHECK_MS.at(-1) ?? 0) + pollIntervalMs);
  const settings$ = born ? merge(...SETTINGS_RECHECK_MS.map((ms) => timer(ms))).pipe(mergeMap(() => from(book.safely(cgroup, "settings re-check", () => recheckSettings(tracker, book.now))))) : EMPTY;
  const memoryVersion = memoryVersionOnDisk(tracker);
  book.modes.set(cgroup, notifierFor(memoryVersion, wakeOptions.native !== null));
  // NEVER keeps a cgroup with no notifier (v1 polled) alive until its removal.
  const live$ = merge(
    merge(wakesFor(tracker, memoryVersion, wakeOptions), NEVER).pipe(
      mergeMap((wake) => {
        book.onWake();
        return from(book.safely(cgroup, wake.kind, () => tracker.handle(wake)));
      }),
    ),
    settings$,
  ).pipe(takeUntil(removed));
  const farewell$ = defer(() => {
    const t = book.now();
    const last = book.safely(cgroup, "final read", () => tracker.finalRead(t));
    tracker.close();
    book.trackers.delete(cgroup);
    book.modes.delete(cgroup);
    book.removals.delete(cgroup);
    book.fresh.delete(cgroup);
    return from([...last, { kind: "cgroup_removed", cgroup, at: t, source: "inotify" } satisfies WatchdogEvent]);
  });
  return concat(from([addedEvent, ...baseline]), live$, farewell$);
}
