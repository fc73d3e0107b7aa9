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
import fs from "node:fs";
import { EMPTY, NEVER, Observable, Subject, catchError, concat, defer, from, merge, mergeMap, share, takeUntil, timer, type Subscription } from "rxjs";
import type { CgroupLayout } from "../cgroup/layout.js";
import { locateController } from "../cgroup/layout.js";
import type { FileReader } from "../cgroup/read.js";
import type { PressureResource, V1PressureLevel, WatchdogEvent } from "../events/types.js";
import { discoverCgroups, type DiscoveryFilter } from "../sources/discovery.js";
import { fileWakes } from "../sources/fileWatch.js";
import type { Wake } from "../sources/types.js";
import { memoryVersionOnDisk, notifierFor, type NativeNotifiers, type NotifierMode } from "./notifiers.js";
import { everySliced } from "./slices.js";
import { createStallReoffers } from "./stallReoffer.js";
import { createTracker, type CgroupTracker, type TrackerProblem } from "./tracker.js";

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
}

/**
 * Wakes per second above which the inotify queue may have overflowed: a
 * quarter of fs.inotify.max_queued_events (16384 by default).
 */
export function inotifyStormThreshold(procRoot = "/proc"): number {
  try {
    const q = Number(fs.readFileSync(`${procRoot}/sys/fs/inotify/max_queued_events`, "utf8").trim());
    return Number.isFinite(q) && q > 0 ? Math.max(256, Math.floor(q / 4)) : 4096;
  } catch {
    return 4096;
  }
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

export function createWatcher(options: WatchOptions): Watcher {
  const now = options.now ?? (() => performance.now());
  const levels = options.v1PressureLevels ?? [];
  const pressureLevelsOf = (cgroup: string): readonly V1PressureLevel[] => (typeof levels === "function" ? levels(cgroup) : levels);
  const trackers = new Map<string, CgroupTracker>();
  const modes = new Map<string, NotifierMode>();
  let resolveReady: (n: number) => void = () => undefined;
  const ready = new Promise<number>((r) => {
    resolveReady = r;
  });
  const native = options.native ?? null;
  let wakeCount = 0;

  const guard = (cgroup: string, name: string, source: Observable<Wake>): Observable<Wake> =>
    source.pipe(
      catchError((err: unknown) => {
        options.onSourceError?.(cgroup, name, err);
        return EMPTY;
      }),
    );

  const wakesFor = (tracker: CgroupTracker): Observable<Wake> => {
    const cgroup = tracker.cgroup;
    const sources: Observable<Wake>[] = [];
    const persistent = options.persistent ?? true;
    const watchFile = (file: string, controller: "memory" | "pids" | "cpu"): void => {
      const p = tracker.fileOf(controller, file);
      if (p !== null) sources.push(guard(cgroup, `inotify:${file}`, fileWakes(cgroup, file, p, { persistent, now })));
    };
    const memoryVersion = memoryVersionOnDisk(tracker);
    const mode = notifierFor(memoryVersion, native !== null);
    modes.set(cgroup, mode);
    if (memoryVersion === 2) {
      watchFile("cgroup.events", "memory");
      watchFile("memory.events", "memory");
      watchFile("pids.events", "pids");
      if (native !== null) {
        for (const [resource, trigger] of Object.entries(options.psiTriggers ?? {}) as [PressureResource, string][]) {
          const controller = resource === "io" ? "io" : resource;
          const p = locateController(options.layout, controller) === null ? null : tracker.fileOf(controller, `${resource}.pressure`);
          if (p !== null) sources.push(guard(cgroup, `psi:${resource}`, native.psiTrigger(p, cgroup, resource, trigger)));
        }
      }
    } else if (memoryVersion === 1 && native !== null) {
      // fileOf(..., "") is the cgroup's own directory in the memory hierarchy.
      const memDir = tracker.fileOf("memory", "");
      if (memDir !== null) {
        // A notification's follow-up re-reads end once its kill was counted.
        const confirmed = (notifiedAt: number): boolean => tracker.counters.oomKillSeenAt === notifiedAt;
        sources.push(guard(cgroup, "eventfd:oom", native.v1Oom(memDir, cgroup, confirmed)));
        sources.push(guard(cgroup, "eventfd:reservation", native.v1Reservation(memDir, cgroup, tracker.bornWatched)));
        for (const level of pressureLevelsOf(cgroup)) sources.push(guard(cgroup, `eventfd:pressure:${level}`, native.v1PressureLevel(memDir, cgroup, level)));
      }
    }
    // pids.events on v1 (of cgroups with a pids.max) and everything on
    // v1-without-native is polled by the sweeps.
    return merge(...sources);
  };

  const events$ = new Observable<WatchdogEvent>((subscriber) => {
    const removals = new Map<string, Subject<void>>();
    const persistent = options.persistent ?? true;
    // A lasting stall under OOM is re-offered until it clears (stallReoffer.ts).
    const reoffers = createStallReoffers({
      baseMs: options.stallReofferMs ?? 1000,
      maxMs: Math.max(options.stallReofferMs ?? 1000, options.safetyNetIntervalMs),
      persistent,
      reoffer: (cgroup) => {
        const t = trackers.get(cgroup);
        if (t === undefined || t.counters.stall === null) return false;
        emitAll(safely(cgroup, "stall re-offer", () => t.handle({ kind: "file_changed", cgroup, file: "memory.oom_control", source: "poll", at: now() })));
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
    /** Cgroups added lately, until when their settings are re-checked by the poll too. */
    const fresh = new Map<string, number>();
    /** The first scan is done: cgroups found from now on were created while watched. */
    let scanned = false;
    /** Re-reads a tracker's quota; a quota that just appeared gets its cpu.stat baseline now. */
    const recheckSettings = (t: CgroupTracker): WatchdogEvent[] => {
      const had = t.hasCpuQuota();
      t.refreshQuota();
      return !had && t.hasCpuQuota() ? t.sweepCpu(now()) : [];
    };
    const safely = (cgroup: string, what: string, fn: () => WatchdogEvent[]): WatchdogEvent[] => {
      try {
        return fn();
      } catch (err) {
        options.onSourceError?.(cgroup, what, err);
        return [];
      }
    };

    const discovery$ = discoverCgroups({
      roots: discoveryRoots(options.layout),
      patterns: options.patterns,
      ...(options.exclude === undefined ? {} : { exclude: options.exclude }),
      ...(options.rescanIntervalMs === undefined ? {} : { rescanIntervalMs: options.rescanIntervalMs }),
      ...(options.refilter$ === undefined ? {} : { refilter$: options.refilter$ }),
      persistent: options.persistent ?? true,
      now,
    }).pipe(share());

    const perCgroup$ = discovery$.pipe(
      mergeMap((change) => {
        switch (change.kind) {
          case "scanned":
            scanned = true;
            resolveReady(change.count);
            return EMPTY;
          case "removed": {
            removals.get(change.cgroup)?.next();
            return EMPTY;
          }
          case "added": {
            const { cgroup, at } = change;
            // Created while watched: its counters count from 0 and its settings may still be being written.
            const born = scanned && !change.existed;
            if (trackers.has(cgroup)) return EMPTY;
            const tracker = createTracker({
              layout: options.layout,
              reader: options.reader,
              cgroup,
              bornWatched: born,
              ...(options.onProblem === undefined ? {} : { onProblem: options.onProblem }),
              pressureResources: native === null ? [] : (Object.keys(options.psiTriggers ?? {}) as PressureResource[]),
              ...(options.onProblemCleared === undefined ? {} : { onProblemCleared: options.onProblemCleared }),
            });
            trackers.set(cgroup, tracker);
            const removed = new Subject<void>();
            removals.set(cgroup, removed);
            // The first read is the baseline (counters are history); a cgroup
            // already under OOM is reported, since it is stalled right now.
            const baseline = safely(cgroup, "baseline", () => {
              tracker.refreshQuota();
              const ev = tracker.sweepCounters(at, "poll");
              if (tracker.hasCpuQuota()) tracker.sweepCpu(at);
              return ev;
            });
            const added: WatchdogEvent = { kind: "cgroup_added", cgroup, at, source: "inotify" };
            // Only a cgroup created while watched can still be being set up
            // (at startup 10k cgroups would cost 30k timers for nothing).
            if (born) fresh.set(cgroup, at + (SETTINGS_RECHECK_MS.at(-1) ?? 0) + options.pollIntervalMs);
            const settings$ = born ? merge(...SETTINGS_RECHECK_MS.map((ms) => timer(ms))).pipe(mergeMap(() => from(safely(cgroup, "settings re-check", () => recheckSettings(tracker))))) : EMPTY;
            // NEVER keeps a cgroup with no notifier (v1 polled) alive until its removal.
            const live$ = merge(
              merge(wakesFor(tracker), NEVER).pipe(
                mergeMap((wake) => {
                  wakeCount++;
                  return from(safely(cgroup, wake.kind, () => tracker.handle(wake)));
                }),
              ),
              settings$,
            ).pipe(takeUntil(removed));
            const farewell$ = defer(() => {
              const t = now();
              const last = safely(cgroup, "final read", () => tracker.finalRead(t));
              tracker.close();
              trackers.delete(cgroup);
              modes.delete(cgroup);
              removals.delete(cgroup);
              fresh.delete(cgroup);
              return from([...last, { kind: "cgroup_removed", cgroup, at: t, source: "inotify" } satisfies WatchdogEvent]);
            });
            return concat(from([added, ...baseline]), live$, farewell$);
          }
        }
      }),
    );

    const subs: Subscription[] = [];
    subs.push(perCgroup$.subscribe({ next: emit, error: (err: unknown) => subscriber.error(err) }));

    const nativeV1 = native !== null;
    const stops: (() => void)[] = [];
    const trackerList = (): CgroupTracker[] => [...trackers.values()];

    // cpu.stat of cgroups under a quota, and — v1 without eventfd — OOM
    // state; the settings of cgroups added lately are re-checked too.
    const poll = everySliced(
      options.pollIntervalMs,
      () => trackerList().filter((t) => t.hasCpuQuota() || t.pollsPids() || (t.memoryVersion === 1 && !nativeV1) || fresh.has(t.cgroup)),
      (t) => {
        const freshUntil = fresh.get(t.cgroup);
        if (freshUntil !== undefined) {
          if (now() >= freshUntil) fresh.delete(t.cgroup);
          if (!t.hasCpuQuota()) emitAll(safely(t.cgroup, "settings re-check", () => recheckSettings(t)));
        }
        if (t.hasCpuQuota()) emitAll(safely(t.cgroup, "cpu sweep", () => t.sweepCpu(now())));
        if (t.memoryVersion === 1 && !nativeV1) emitAll(safely(t.cgroup, "poll sweep", () => t.sweepCounters(now(), "poll")));
        else if (t.pollsPids()) emitAll(safely(t.cgroup, "pids sweep", () => t.sweepPids(now())));
      },
      { persistent },
    );
    stops.push(poll.stop);

    // The safety net: every counter file re-read, what no notification said.
    const safetyNet = everySliced(
      options.safetyNetIntervalMs,
      trackerList,
      (t) => {
        emitAll(safely(t.cgroup, "safety net", () => t.sweepCounters(now(), "poll")));
        t.refreshQuota();
      },
      { persistent },
    );
    stops.push(safetyNet.stop);

    // A notification storm can overflow the inotify queue (IN_Q_OVERFLOW),
    // which libuv drops without telling anyone: those changes would wait for
    // the next safety net (30 s). When the wake rate suggests the queue was
    // under pressure, run the safety net as soon as the storm calms down.
    const stormThreshold = options.stormThreshold ?? inotifyStormThreshold();
    let stormy = false;
    const stormTimer = setInterval(() => {
      const n = wakeCount;
      wakeCount = 0;
      if (n >= stormThreshold) stormy = true;
      else if (stormy) {
        stormy = false;
        options.onStorm?.();
        safetyNet.kick();
      }
    }, 1000);
    if (!persistent) stormTimer.unref();
    stops.push(() => clearInterval(stormTimer));

    if (options.sampleIntervalMs !== undefined && options.sampleIntervalMs !== null) {
      const samples = everySliced(
        options.sampleIntervalMs,
        trackerList,
        (t) => {
          const [sample] = safely(t.cgroup, "sample", () => [t.sample(now())]);
          if (sample !== undefined) emit(sample);
        },
        { persistent },
      );
      stops.push(samples.stop);
    }
    stops.push(() => reoffers.stop());
    return () => {
      for (const stop of stops) stop();
      for (const s of subs) s.unsubscribe();
      for (const t of trackers.values()) t.close();
      trackers.clear();
      modes.clear();
    };
  });

  return { events$, trackers, ready, notifierOf: (c) => modes.get(c) ?? null };
}
