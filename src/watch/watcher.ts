/**
 * The watch loop: discovery → one tracker per cgroup → its wake sources →
 * typed events. Composition only; every decision about what a re-read means
 * lives in the tracker, every kernel mechanism in sources/.
 *
 * Isolation: an error in one cgroup's stream is reported and ends only that
 * source; the other cgroups keep going. A removed cgroup gets one final read
 * (its last OOM kill must not be lost), then `cgroup_removed`, then its
 * sources are unsubscribed and its fds closed.
 */
import { Observable } from "rxjs";
import type { CgroupLayout } from "../cgroup/layout.js";
import { locateController } from "../cgroup/layout.js";
import type { FileReader } from "../cgroup/read.js";
import { COUNTER_FILES, type CounterFiles } from "../events/counterFiles/index.js";
import type { PressureResource, V1PressureLevel, WatchdogEvent } from "../events/types.js";
import { discoverCgroups, type DiscoveryFilter } from "../sources/discovery.js";
import type { NativeNotifiers, NotifierMode } from "./notifiers.js";
import { startCgroup, type CgroupBook } from "./perCgroup.js";
import { createStallReoffers, type StallReoffers } from "./stallReoffer.js";
import { inotifyStormThreshold, startSweeps } from "./sweeps.js";
import type { CgroupTracker, TrackerOptions, TrackerProblem } from "./tracker.js";
import { ancestorQuotas } from "./trackerSettings.js";
import type { WakeOptions } from "./wakes.js";

export { SETTINGS_RECHECK_MS } from "./perCgroup.js";
export { inotifyStormThreshold } from "./sweeps.js";

export interface WatchOptions {
  readonly layout: CgroupLayout;
  readonly reader: FileReader;
  readonly patterns: readonly string[];
  readonly exclude?: (cgroup: string) => boolean;
  /** cpu.stat poll interval, and the v1 OOM poll interval when eventfd is unavailable. */
  readonly pollIntervalMs: number;
  /** Re-read of every counter file, to catch what a notification missed. */
  readonly safetyNetIntervalMs: number;
  /** Periodic `sample` events for control-loop policies; null = none. */
  readonly sampleIntervalMs?: number | null;
  readonly rescanIntervalMs?: number;
  /** New watch patterns / exclusions from a config reload (see discoverCgroups). */
  readonly refilter$?: Observable<DiscoveryFilter>;
  readonly native?: NativeNotifiers | null;
  /** v2 PSI triggers to arm per cgroup, e.g. { memory: "some 150000 1000000" }. */
  readonly psiTriggers?: Partial<Record<PressureResource, string>>;
  /**
   * v1 memory.pressure_level registrations per cgroup (when native is
   * available): the levels, or a function of the cgroup (per watch rule).
   * One eventfd per level and cgroup; none by default.
   */
  readonly v1PressureLevels?: readonly V1PressureLevel[] | ((cgroup: string) => readonly V1PressureLevel[]);
  /** First re-offer of a lasting v1 stall under OOM (ms, default 1000); doubles up to the safety-net interval. */
  readonly stallReofferMs?: number;
  readonly persistent?: boolean;
  readonly now?: () => number;
  readonly onProblem?: (p: TrackerProblem) => void;
  readonly onProblemCleared?: (p: { readonly cgroup: string; readonly file: string }) => void;
  readonly onSourceError?: (cgroup: string, source: string, err: unknown) => void;
  /** Wakes per second that count as a storm (default: from fs.inotify.max_queued_events). */
  readonly stormThreshold?: number;
  /** A notification storm calmed down and a catch-up sweep was started. */
  readonly onStorm?: () => void;
  /** The watched counter files (default: COUNTER_FILES). */
  readonly counterFiles?: CounterFiles;
}

export interface Watcher {
  /** Cold: subscribing starts discovery and every source; unsubscribing stops them all. */
  readonly events$: Observable<WatchdogEvent>;
  readonly trackers: ReadonlyMap<string, CgroupTracker>;
  /** Resolves with the number of cgroups once the first full scan is done. */
  readonly ready: Promise<number>;
  notifierOf(cgroup: string): NotifierMode | null;
}

/** Directories to scan: every distinct hierarchy that carries a controller cgwatch watches. */
export function discoveryRoots(layout: CgroupLayout): string[] {
  const roots = new Set<string>();
  for (const c of ["memory", "cpu", "pids"] as const) {
    const loc = locateController(layout, c);
    if (loc !== null) roots.add(loc.root);
  }
  return [...roots];
}

export function createWatcher(options: WatchOptions): Watcher {
  const now = options.now ?? (() => performance.now());
  const trackers = new Map<string, CgroupTracker>();
  const modes = new Map<string, NotifierMode>();
  let resolveReady: (n: number) => void = () => undefined;
  const ready = new Promise<number>((r) => {
    resolveReady = r;
  });
  const persistent = options.persistent ?? true;
  const { wakeOptions, trackerOptions } = perCgroupOptions(options, now);
  let wakeCount = 0;

  const events$ = new Observable<WatchdogEvent>((subscriber) => {
    const book: CgroupBook = {
      trackers,
      modes,
      removals: new Map(),
      fresh: new Map(),
      now,
      onWake: () => void wakeCount++,
      safely(cgroup, what, fn) {
        try {
          return fn();
        } catch (err) {
          options.onSourceError?.(cgroup, what, err);
          return [];
        }
      },
    };
    // A lasting stall under OOM is re-offered until it clears (stallReoffer.ts).
    const reoffers: StallReoffers = createStallReoffers({
      baseMs: options.stallReofferMs ?? 1000,
      maxMs: Math.max(options.stallReofferMs ?? 1000, options.safetyNetIntervalMs),
      persistent,
      reoffer: (cgroup) => {
        const t = trackers.get(cgroup);
        if (t === undefined || t.counters.stall === null) return false;
        emitAll(
          book.safely(cgroup, "stall re-offer", () =>
            t.handle({ kind: "file_changed", cgroup, file: "memory.oom_control", source: "poll", at: now() }),
          ),
        );
        return t.counters.stall !== null;
      },
    });
    const emit = (e: WatchdogEvent): void => {
      reoffers.observe(e);
      subscriber.next(e);
    };
    const emitAll = (events: readonly WatchdogEvent[]): void => {
      for (const e of events) emit(e);
    };
    const sub = perCgroupEvents(options, book, wakeOptions, trackerOptions, resolveReady).subscribe({
      next: emit,
      error: (err: unknown) => subscriber.error(err),
    });
    const stops = startSweeps(
      {
        pollIntervalMs: options.pollIntervalMs,
        safetyNetIntervalMs: options.safetyNetIntervalMs,
        ...(options.sampleIntervalMs === undefined ? {} : { sampleIntervalMs: options.sampleIntervalMs }),
        persistent,
        nativeV1: wakeOptions.native !== null,
        stormThreshold: options.stormThreshold ?? inotifyStormThreshold(),
        ...(options.onStorm === undefined ? {} : { onStorm: options.onStorm }),
      },
      {
        book,
        emit,
        emitAll,
        takeWakeCount: () => {
          const n = wakeCount;
          wakeCount = 0;
          return n;
        },
      },
    );
    return () => {
      for (const stop of stops) stop();
      reoffers.stop();
      sub.unsubscribe();
      for (const t of trackers.values()) t.close();
      trackers.clear();
      modes.clear();
    };
  });

  return { events$, trackers, ready, notifierOf: (c) => modes.get(c) ?? null };
}

/** Discovery's changes turned into each cgroup's events (perCgroup.ts). */
function perCgroupEvents(
  options: WatchOptions,
  book: CgroupBook,
  wakeOptions: WakeOptions,
  trackerOptions: Omit<TrackerOptions, "cgroup" | "bornWatched">,
  resolveReady: (n: number) => void,
): Observable<WatchdogEvent> {
  return new Observable<WatchdogEvent>((subscriber) => {
    /** The first scan is done: cgroups found from now on were created while watched. */
    let scanned = false;
    const emit = (e: WatchdogEvent): void => subscriber.next(e);
    const sub = discoverCgroups({
      roots: discoveryRoots(options.layout),
      patterns: options.patterns,
      ...(options.exclude === undefined ? {} : { exclude: options.exclude }),
      ...(options.rescanIntervalMs === undefined ? {} : { rescanIntervalMs: options.rescanIntervalMs }),
      ...(options.refilter$ === undefined ? {} : { refilter$: options.refilter$ }),
      persistent: options.persistent ?? true,
      now: book.now,
    }).subscribe({
      next(change) {
        switch (change.kind) {
          case "scanned":
            scanned = true;
            resolveReady(change.count);
            return;
          case "removed":
            book.removals.get(change.cgroup)?.remove();
            return;
          case "added":
            if (book.trackers.has(change.cgroup)) return;
            startCgroup(
              { cgroup: change.cgroup, at: change.at, born: scanned && !change.existed },
              trackerOptions,
              wakeOptions,
              book,
              options.pollIntervalMs,
              emit,
            );
            return;
        }
      },
      error: (err: unknown) => subscriber.error(err),
      // Discovery does not end while persistent; if it does, live cgroups keep their sources (as with a merge of streams that never end).
      complete: () => {
        if (book.removals.size === 0) subscriber.complete();
      },
    });
    return () => {
      sub.unsubscribe();
      for (const life of book.removals.values()) life.stop();
      book.removals.clear();
    };
  });
}

/** What each cgroup's wake sources and tracker are made with. */
function perCgroupOptions(
  options: WatchOptions,
  now: () => number,
): { wakeOptions: WakeOptions; trackerOptions: Omit<TrackerOptions, "cgroup" | "bornWatched"> } {
  const native = options.native ?? null;
  const levels = options.v1PressureLevels ?? [];
  const counterFiles = options.counterFiles ?? COUNTER_FILES;
  const wakeOptions: WakeOptions = {
    layout: options.layout,
    counterFiles,
    native,
    persistent: options.persistent ?? true,
    now,
    psiTriggers: options.psiTriggers ?? {},
    pressureLevelsOf: (cgroup) => (typeof levels === "function" ? levels(cgroup) : levels),
    ...(options.onSourceError === undefined ? {} : { onSourceError: options.onSourceError }),
  };
  const trackerOptions: Omit<TrackerOptions, "cgroup" | "bornWatched"> = {
    layout: options.layout,
    reader: options.reader,
    counterFiles,
    // Real time, not the injected clock: a clock that stands still must not keep a quota forever.
    ancestorQuotas: ancestorQuotas(options.layout, options.reader, () => performance.now()),
    pressureResources: native === null ? [] : (Object.keys(options.psiTriggers ?? {}) as PressureResource[]),
    ...(options.onProblem === undefined ? {} : { onProblem: options.onProblem }),
    ...(options.onProblemCleared === undefined ? {} : { onProblemCleared: options.onProblemCleared }),
  };
  return { wakeOptions, trackerOptions };
}
