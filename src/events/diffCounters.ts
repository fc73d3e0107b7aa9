/**
 * Pure operators that turn two successive reads of a kernel counter file
 * into events. Notifications are never counted: a wake is only a reason to
 * re-read, and the delta between reads is the truth. A counter that went
 * DOWN means the cgroup was recreated under the same name: the new value
 * becomes the baseline and nothing is emitted.
 */
import type { MemoryEventCounters, OomControl, CpuStat } from "../cgroup/parse.js";
import type { EventSource, MemoryEventKind, WatchdogEvent } from "./types.js";

export interface ReadContext {
  readonly cgroup: string;
  readonly at: number;
  readonly source: EventSource;
}

/** The event kind of each memory.events key (the counter file table mirrors each kind back into its key's series). */
export const MEMORY_EVENT_KIND: Readonly<Record<keyof MemoryEventCounters, MemoryEventKind>> = {
  low: "memory_low",
  high: "memory_high",
  max: "memory_max",
  oom: "oom",
  oom_kill: "oom_kill",
  oom_group_kill: "oom_group_kill",
};

/** Order matters for consumers: the kernel raises max, then oom, then oom_kill. */
const MEMORY_EVENT_ORDER: readonly (keyof MemoryEventCounters)[] = [
  "low",
  "high",
  "max",
  "oom",
  "oom_kill",
  "oom_group_kill",
];

export function diffMemoryEvents(
  prev: MemoryEventCounters | null,
  next: MemoryEventCounters,
  ctx: ReadContext,
): WatchdogEvent[] {
  if (prev === null) return [];
  const out: WatchdogEvent[] = [];
  for (const key of MEMORY_EVENT_ORDER) {
    const before = prev[key];
    const after = next[key];
    if (after > before)
      out.push({
        kind: MEMORY_EVENT_KIND[key],
        cgroup: ctx.cgroup,
        at: ctx.at,
        source: ctx.source,
        counter: { before, after },
      });
  }
  return out;
}

/** What the tracker remembers of a stall in progress, to tell whether a read that still shows it is news. */
export interface StallState {
  /** When cgwatch first saw this stall (monotonic ms). */
  readonly since: number;
  /** `at` of the last under_oom event emitted for it; an OOM notification's follow-up re-reads share their notification's `at` (never newer than a later offer's). */
  readonly offeredAt: number;
}

/**
 * A poll read (safety net, stall re-offer timer, the no-eventfd path) re-offers
 * a lasting stall at most this often, so a sweep that lands just after a
 * notification does not answer the same stall twice.
 */
export const STALL_REOFFER_MIN_MS = 500;

/**
 * v1 memory.oom_control. `under_oom` is a standing emergency: a read that
 * shows `under_oom 1` is an event when the stall is new, when a kernel
 * notification (each is a task entering OOM again, e.g. after a raise that
 * was not enough) says so, whatever the last read said, and when a poll read
 * finds it still there (a re-offer, at most every STALL_REOFFER_MIN_MS). The
 * recovery (`under_oom 0` after a stall) is an event too. `oom_kill` is the
 * counter delta. The first read is a baseline for the counter, but a cgroup
 * already stalled when first seen is reported: it is stalled right now.
 */
export function diffOomControl(
  prev: OomControl | null,
  next: OomControl,
  stall: StallState | null,
  ctx: ReadContext,
): { readonly events: WatchdogEvent[]; readonly stall: StallState | null } {
  const events: WatchdogEvent[] = [];
  const underOom = (stalledMs: number, under: boolean): WatchdogEvent => ({
    kind: "under_oom",
    cgroup: ctx.cgroup,
    at: ctx.at,
    source: ctx.source,
    underOom: under,
    oomKillDisable: next.oomKillDisable,
    stalledMs,
  });
  let nextStall = stall;
  if (next.underOom) {
    if (stall === null) {
      nextStall = { since: ctx.at, offeredAt: ctx.at };
      events.push(underOom(0, true));
    } else if (ctx.source === "poll" ? ctx.at - stall.offeredAt >= STALL_REOFFER_MIN_MS : ctx.at > stall.offeredAt) {
      // A notification newer than the last offer; its follow-up re-reads
      // carry its own (older) time and repeat nothing.
      nextStall = { since: stall.since, offeredAt: ctx.at };
      events.push(underOom(Math.max(0, ctx.at - stall.since), true));
    }
  } else if (stall !== null) {
    nextStall = null;
    events.push(underOom(Math.max(0, ctx.at - stall.since), false));
  }
  if (prev !== null && prev.oomKill !== null && next.oomKill !== null && next.oomKill > prev.oomKill) {
    events.push({
      kind: "oom_kill",
      cgroup: ctx.cgroup,
      at: ctx.at,
      source: ctx.source,
      counter: { before: prev.oomKill, after: next.oomKill },
    });
  }
  return { events, stall: nextStall };
}

/** v1 memory.failcnt (times usage hit the limit) → memory_max, the v2 name for the same happening. */
export function diffFailcnt(prev: number | null, next: number, ctx: ReadContext): WatchdogEvent[] {
  if (prev === null || next <= prev) return [];
  return [
    { kind: "memory_max", cgroup: ctx.cgroup, at: ctx.at, source: ctx.source, counter: { before: prev, after: next } },
  ];
}

export function diffPidsEvents(prev: number | null, next: number, ctx: ReadContext): WatchdogEvent[] {
  if (prev === null || next <= prev) return [];
  return [
    { kind: "pids_max", cgroup: ctx.cgroup, at: ctx.at, source: ctx.source, counter: { before: prev, after: next } },
  ];
}

/**
 * cpu.stat over one poll interval: an event when any period was throttled.
 * ratio = Δnr_throttled / Δnr_periods (koordinator's throttling ratio).
 */
export function diffCpuStat(
  prev: CpuStat | null,
  next: CpuStat,
  intervalSeconds: number,
  ctx: ReadContext,
): WatchdogEvent[] {
  if (prev === null) return [];
  const dPeriods = next.periods - prev.periods;
  const dThrottled = next.throttledPeriods - prev.throttledPeriods;
  if (dPeriods < 0 || dThrottled <= 0) return [];
  return [
    {
      kind: "cpu_throttled",
      cgroup: ctx.cgroup,
      at: ctx.at,
      source: ctx.source,
      periods: { before: prev.periods, after: next.periods },
      throttledPeriods: { before: prev.throttledPeriods, after: next.throttledPeriods },
      throttledSeconds: { before: prev.throttledSeconds, after: next.throttledSeconds },
      ratio: dPeriods === 0 ? 1 : Math.min(1, dThrottled / dPeriods),
      intervalSeconds,
    },
  ];
}

/** Usage crossing the reservation (v1 soft limit), either direction; null reservation = none set. */
export function diffReservation(
  wasAbove: boolean | null,
  usageBytes: number,
  reservationBytes: number | null,
  ctx: ReadContext,
): { above: boolean | null; events: WatchdogEvent[] } {
  if (reservationBytes === null) return { above: null, events: [] };
  const above = usageBytes > reservationBytes;
  // First sight of a cgroup already above its reservation is a breach now.
  if (above === (wasAbove ?? false)) return { above, events: [] };
  return {
    above,
    events: [
      {
        kind: "reservation_breach",
        cgroup: ctx.cgroup,
        at: ctx.at,
        source: ctx.source,
        above,
        usageBytes,
        reservationBytes,
      },
    ],
  };
}
