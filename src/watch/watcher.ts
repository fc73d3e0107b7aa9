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
import { EMPTY, NEVER, Observable, Subject, catchError, concat, defer, from, merge, mergeMap, share, takeUntil, type Subscription } from "rxjs";
import type { CgroupLayout } from "../cgroup/layout.js";
import { locateController } from "../cgroup/layout.js";
import type { FileReader } from "../cgroup/read.js";
import type { PressureResource, V1PressureLevel, WatchdogEvent } from "../events/types.js";
import { discoverCgroups } from "../sources/discovery.js";
import { fileWakes } from "../sources/fileWatch.js";
import type { Wake } from "../sources/types.js";
import { notifierFor, type NativeNotifiers, type NotifierMode } from "./notifiers.js";
import { everySliced } from "./slices.js";
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
  readonly native?: NativeNotifiers | null;
  /** v2 PSI triggers to arm per cgroup, e.g. { memory: "some 150000 1000000" }. */
  readonly psiTriggers?: Partial<Record<PressureResource, string>>;
  /** v1 pressure level to register (when native is available). */
  readonly v1PressureLevel?: V1PressureLevel | null;
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

export function createWatcher(options: WatchOptions): Watcher {
  const now = options.now ?? (() => performance.now());
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
    const mode = notifierFor(tracker.memoryVersion, native !== null);
    modes.set(cgroup, mode);
    if (tracker.memoryVersion === 2) {
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
    } else if (tracker.memoryVersion === 1 && native !== null) {
      // fileOf(..., "") is the cgroup's own directory in the memory hierarchy.
      const memDir = tracker.fileOf("memory", "");
      if (memDir !== null) {
        sources.push(guard(cgroup, "eventfd:oom", native.v1Oom(memDir, cgroup)));
        sources.push(guard(cgroup, "eventfd:reservation", native.v1Reservation(memDir, cgroup)));
        if (options.v1PressureLevel) sources.push(guard(cgroup, "eventfd:pressure", native.v1PressureLevel(memDir, cgroup, options.v1PressureLevel)));
      }
    }
    // pids.events on v1 and everything on v1-without-native is polled by the sweeps.
    return merge(...sources);
  };

  const events$ = new Observable<WatchdogEvent>((subscriber) => {
    const removals = new Map<string, Subject<void>>();
    const emitAll = (events: readonly WatchdogEvent[]): void => {
      for (const e of events) subscriber.next(e);
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
      persistent: options.persistent ?? true,
      now,
    }).pipe(share());

    const perCgroup$ = discovery$.pipe(
      mergeMap((change) => {
        switch (change.kind) {
          case "scanned":
            resolveReady(change.count);
            return EMPTY;
          case "removed": {
            removals.get(change.cgroup)?.next();
            return EMPTY;
          }
          case "added": {
            const { cgroup, at } = change;
            if (trackers.has(cgroup)) return EMPTY;
            const tracker = createTracker({
              layout: options.layout,
              reader: options.reader,
              cgroup,
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
            // NEVER keeps a cgroup with no notifier (v1 polled) alive until its removal.
            const live$ = merge(wakesFor(tracker), NEVER).pipe(
              mergeMap((wake) => {
                wakeCount++;
                return from(safely(cgroup, wake.kind, () => tracker.handle(wake)));
              }),
              takeUntil(removed),
            );
            const farewell$ = defer(() => {
              const t = now();
              const last = safely(cgroup, "final read", () => tracker.finalRead(t));
              tracker.close();
              trackers.delete(cgroup);
              modes.delete(cgroup);
              removals.delete(cgroup);
              return from([...last, { kind: "cgroup_removed", cgroup, at: t, source: "inotify" } satisfies WatchdogEvent]);
            });
            return concat(from([added, ...baseline]), live$, farewell$);
          }
        }
      }),
    );

    const subs: Subscription[] = [];
    subs.push(perCgroup$.subscribe({ next: (e) => subscriber.next(e), error: (err: unknown) => subscriber.error(err) }));

    const nativeV1 = native !== null;
    const persistent = options.persistent ?? true;
    const stops: (() => void)[] = [];
    const trackerList = (): CgroupTracker[] => [...trackers.values()];

    // cpu.stat of cgroups under a quota, and — v1 without eventfd — OOM state.
    const poll = everySliced(
      options.pollIntervalMs,
      () => trackerList().filter((t) => t.hasCpuQuota() || (t.memoryVersion === 1 && !nativeV1)),
      (t) => {
        if (t.hasCpuQuota()) emitAll(safely(t.cgroup, "cpu sweep", () => t.sweepCpu(now())));
        if (t.memoryVersion === 1 && !nativeV1) emitAll(safely(t.cgroup, "poll sweep", () => t.sweepCounters(now(), "poll")));
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
          if (sample !== undefined) subscriber.next(sample);
        },
        { persistent },
      );
      stops.push(samples.stop);
    }
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
