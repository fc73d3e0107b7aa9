/**
 * Publishes each watched cgroup's settings, usage and absolute kernel
 * counters to the metrics store on a timer. Event handling already mirrors
 * the counters it diffs; this pass fills in gauges (limits, usage, the
 * Docker-flag settings), PSI totals and block I/O, and repairs any counter a
 * missed notification left behind. At 10k cgroups a pass reads ~150k small
 * files, so it runs in slices that yield to the event loop between them:
 * an OOM notification is never queued behind a metrics pass.
 */
import type { CgroupLayout } from "../cgroup/layout.js";
import type { FileReader } from "../cgroup/read.js";
import { COUNTER_FILES, type CounterFiles } from "../events/counterFiles/index.js";
import type { Metrics } from "../metrics/metrics.js";
import { publishAfterWrite, publishOne, type PublishContext } from "./publishCgroup.js";
import type { CgroupTracker } from "./tracker.js";
import { DEFAULT_SLICE_MS, everySliced } from "./slices.js";
import type { Watcher } from "./watcher.js";

export interface PublisherOptions {
  readonly watcher: Watcher;
  readonly layout: CgroupLayout;
  readonly reader: FileReader;
  readonly metrics: Metrics;
  readonly labelsOf: (cgroup: string) => Readonly<Record<string, string>>;
  readonly everyMs: number;
  /** Longest run of work between yields to the event loop (ms). */
  readonly sliceBudgetMs?: number;
  readonly persistent: boolean;
  /** The watched counter files whose last values are mirrored (default: COUNTER_FILES). */
  readonly counterFiles?: CounterFiles;
}

export interface Publisher {
  /** Start a pass now (e.g. right after the first scan). */
  kick(): void;
  /** Re-publishes what cgwatch's write to a cgroup can have changed, now: its gauges must not wait for the next pass. */
  refresh(cgroup: string): void;
  /**
   * Publishes one new cgroup soon, without waiting for the next pass: an
   * engine (runc) creates the directory first and writes the limits after,
   * so a read at discovery sees defaults. Read at `delaysMs` after the call.
   */
  publishSoon(cgroup: string, delaysMs: readonly number[]): void;
  stop(): void;
}

export function publishCgroupState(options: PublisherOptions): Publisher {
  const { watcher } = options;
  const ctx: PublishContext = { ...options, counterFiles: options.counterFiles ?? COUNTER_FILES };
  const publish = (t: CgroupTracker): void => publishOne(t, ctx);

  const sweep = everySliced(
    Math.max(250, options.everyMs),
    () => [...watcher.trackers.values()],
    (t) => {
      try {
        publish(t);
      } catch {
        /* a cgroup vanishing mid-pass: its removal event cleans up */
      }
    },
    { persistent: options.persistent, budgetMs: options.sliceBudgetMs ?? DEFAULT_SLICE_MS },
  );

  const publishNow = (cgroup: string, how: (t: CgroupTracker, ctx: PublishContext) => void): void => {
    const t = watcher.trackers.get(cgroup);
    if (t === undefined) return;
    try {
      how(t, ctx);
    } catch {
      /* vanished meanwhile: the next pass or its removal event settles it */
    }
  };
  const refresh = (cgroup: string): void => publishNow(cgroup, publishAfterWrite);

  const timers = new Set<NodeJS.Timeout>();
  const publishSoon = (cgroup: string, delaysMs: readonly number[]): void => {
    for (const delay of delaysMs) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        publishNow(cgroup, publishOne);
      }, delay);
      if (!options.persistent) timer.unref();
      timers.add(timer);
    }
  };

  return {
    kick: sweep.kick,
    refresh,
    publishSoon,
    stop: () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      sweep.stop();
    },
  };
}
