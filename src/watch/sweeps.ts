/**
 * The watch loop's timers, each a sliced pass over the trackers: the poll
 * (cpu.stat under a quota, v1 without eventfd, v1 pids with a limit, the
 * settings of cgroups added lately), the safety net (every counter file
 * re-read), its catch-up after a notification storm, and the samples.
 */
import fs from "node:fs";
import type { WatchdogEvent } from "../events/types.js";
import type { CgroupBook } from "./perCgroup.js";
import { recheckSettings } from "./perCgroup.js";
import { everySliced } from "./slices.js";
import type { CgroupTracker } from "./tracker.js";

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

export interface SweepOptions {
  readonly pollIntervalMs: number;
  readonly safetyNetIntervalMs: number;
  readonly sampleIntervalMs?: number | null;
  readonly persistent: boolean;
  /** Whether v1 OOM notifications come by eventfd (else v1 is polled). */
  readonly nativeV1: boolean;
  readonly stormThreshold: number;
  readonly onStorm?: () => void;
}

export interface SweepHost {
  readonly book: CgroupBook;
  readonly emit: (e: WatchdogEvent) => void;
  readonly emitAll: (events: readonly WatchdogEvent[]) => void;
  /** Wakes since the last call (the storm detector's rate). */
  readonly takeWakeCount: () => number;
}

/** Starts every timer; returns their stops. */
export function startSweeps(o: SweepOptions, host: SweepHost): (() => void)[] {
  const { book, emitAll } = host;
  const trackerList = (): CgroupTracker[] => [...book.trackers.values()];
  const polled = (t: CgroupTracker): boolean =>
    t.hasCpuQuota() || t.pollsPids() || (t.memoryVersion === 1 && !o.nativeV1) || book.fresh.has(t.cgroup);
  const poll = everySliced(
    o.pollIntervalMs,
    () => trackerList().filter(polled),
    (t) => pollOne(t, o.nativeV1, host),
    { persistent: o.persistent },
  );
  // The safety net: every counter file re-read, what no notification said.
  const safetyNet = everySliced(
    o.safetyNetIntervalMs,
    trackerList,
    (t) => {
      emitAll(book.safely(t.cgroup, "safety net", () => t.sweepCounters(book.now(), "poll")));
      t.refreshQuota();
    },
    { persistent: o.persistent },
  );
  const stops = [poll.stop, safetyNet.stop, stormWatch(o, host, safetyNet.kick)];
  if (o.sampleIntervalMs !== undefined && o.sampleIntervalMs !== null) {
    const samples = everySliced(
      o.sampleIntervalMs,
      trackerList,
      (t) => {
        const [sample] = book.safely(t.cgroup, "sample", () => [t.sample(book.now())]);
        if (sample !== undefined) host.emit(sample);
      },
      { persistent: o.persistent },
    );
    stops.push(samples.stop);
  }
  return stops;
}

/** cpu.stat of cgroups under a quota, and — v1 without eventfd — OOM state; the settings of cgroups added lately are re-checked too. */
function pollOne(t: CgroupTracker, nativeV1: boolean, { book, emitAll }: SweepHost): void {
  const freshUntil = book.fresh.get(t.cgroup);
  if (freshUntil !== undefined) {
    if (book.now() >= freshUntil) book.fresh.delete(t.cgroup);
    if (!t.hasCpuQuota()) emitAll(book.safely(t.cgroup, "settings re-check", () => recheckSettings(t, book.now)));
  }
  if (t.hasCpuQuota()) emitAll(book.safely(t.cgroup, "cpu sweep", () => t.sweepCpu(book.now())));
  if (t.memoryVersion === 1 && !nativeV1)
    emitAll(book.safely(t.cgroup, "poll sweep", () => t.sweepCounters(book.now(), "poll")));
  else if (t.pollsPids()) emitAll(book.safely(t.cgroup, "pids sweep", () => t.sweepPids(book.now())));
}

/**
 * A notification storm can overflow the inotify queue (IN_Q_OVERFLOW),
 * which libuv drops without telling anyone: those changes would wait for
 * the next safety net (30 s). When the wake rate suggests the queue was
 * under pressure, run the safety net as soon as the storm calms down.
 */
function stormWatch(o: SweepOptions, host: SweepHost, catchUp: () => void): () => void {
  let stormy = false;
  const stormTimer = setInterval(() => {
    const n = host.takeWakeCount();
    if (n >= o.stormThreshold) stormy = true;
    else if (stormy) {
      stormy = false;
      o.onStorm?.();
      catchUp();
    }
  }, 1000);
  if (!o.persistent) stormTimer.unref();
  return () => clearInterval(stormTimer);
}
