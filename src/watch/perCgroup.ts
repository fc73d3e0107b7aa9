/**
 * One cgroup's life in the watch loop, from discovery's `added` to its
 * removal: a tracker, a baseline read, its wake sources handled through the
 * tracker, the settings re-checks of a cgroup created while watched, and on
 * removal one final read (its last OOM kill must not be lost), then
 * `cgroup_removed`.
 */
import type { Unsubscribable } from "rxjs";
import type { WatchdogEvent } from "../events/types.js";
import type { Wake } from "../sources/types.js";
import { memoryVersionOnDisk, type NotifierMode } from "./notifiers.js";
import { notifierFor } from "./notifiers.js";
import { createTracker, type CgroupTracker, type TrackerOptions } from "./tracker.js";
import { startWakes, type WakeOptions, type WakeSink } from "./wakes.js";

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
  readonly removals: Map<string, CgroupLife>;
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

/** A watched cgroup's handle in the book: `remove` ends it with its farewell, `stop` (the watcher's teardown) without. */
export interface CgroupLife {
  remove(): void;
  stop(): void;
}

/**
 * The cgroup's events until its removal, then its farewell, pushed to
 * `emit`. Plain watches, subscriptions and timers, not an rxjs pipeline per
 * cgroup: at 10,000 cgroups the merge/mergeMap/takeUntil/concat chain was
 * ~13 subscribers and ~90 closures per cgroup, most of the heap and of the
 * time to ready that the watch loop itself costs.
 */
export function startCgroup(
  added: AddedCgroup,
  trackerOptions: Omit<TrackerOptions, "cgroup" | "bornWatched">,
  wakeOptions: WakeOptions,
  book: CgroupBook,
  pollIntervalMs: number,
  emit: (e: WatchdogEvent) => void,
): void {
  const { cgroup, at, born } = added;
  const tracker = createTracker({ ...trackerOptions, cgroup, bornWatched: born });
  book.trackers.set(cgroup, tracker);
  const life = new Life(tracker, book, emit);
  book.removals.set(cgroup, life);
  const baseline = book.safely(cgroup, "baseline", () => baselineOf(tracker, at));
  // Only a cgroup created while watched can still be being set up
  // (at startup 10k cgroups would cost 30k timers for nothing).
  if (born) book.fresh.set(cgroup, at + (SETTINGS_RECHECK_MS.at(-1) ?? 0) + pollIntervalMs);
  const memoryVersion = memoryVersionOnDisk(tracker);
  book.modes.set(cgroup, notifierFor(memoryVersion, wakeOptions.native !== null));
  emit({ kind: "cgroup_added", cgroup, at, source: "inotify" });
  life.emitAll(baseline);
  if (life.ended) return; // removed while its first events were handled
  // Each source is guarded (wakes.ts): it never errors, and one that ends leaves the others going.
  life.wakes = startWakes(tracker, memoryVersion, wakeOptions, life);
  if (born) life.timers = SETTINGS_RECHECK_MS.map((ms) => setTimeout(recheck, ms, life));
}

/*
 * A class, one per watched cgroup: its methods are not closures per cgroup,
 * and a cgroup found at startup holds no timer array.
 */
class Life implements CgroupLife, WakeSink {
  ended = false;
  wakes: readonly Unsubscribable[] = [];
  timers: readonly NodeJS.Timeout[] = [];

  constructor(
    readonly tracker: CgroupTracker,
    readonly book: CgroupBook,
    private readonly emit: (e: WatchdogEvent) => void,
  ) {}

  emitAll(events: readonly WatchdogEvent[]): void {
    for (const e of events) this.emit(e);
  }

  onWake(wake: Wake): void {
    this.book.onWake();
    this.emitAll(this.book.safely(this.tracker.cgroup, wake.kind, () => this.tracker.handle(wake)));
  }

  stop(): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.wakes) s.unsubscribe();
  }

  remove(): void {
    if (this.ended) return;
    this.stop();
    const { book, tracker } = this;
    const cgroup = tracker.cgroup;
    const t = book.now();
    const last = book.safely(cgroup, "final read", () => tracker.finalRead(t));
    tracker.close();
    book.trackers.delete(cgroup);
    book.modes.delete(cgroup);
    book.removals.delete(cgroup);
    book.fresh.delete(cgroup);
    this.emitAll([...last, { kind: "cgroup_removed", cgroup, at: t, source: "inotify" }]);
  }
}

function recheck(life: Life): void {
  const { book, tracker } = life;
  life.emitAll(book.safely(tracker.cgroup, "settings re-check", () => recheckSettings(tracker, book.now)));
}
