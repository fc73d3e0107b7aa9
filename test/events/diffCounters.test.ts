/**
 * The pure operators that turn two reads of a kernel counter into events
 * (events/diffCounters.ts): boundary tables for each, and properties for
 * the throttling ratio (koordinator's Δnr_throttled / Δnr_periods, within
 * (0, 1]) and for counters going down (a recreated cgroup: a new baseline,
 * never an event).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CpuStat, MemoryEventCounters } from "../../src/cgroup/parse.js";
import {
  diffCpuStat,
  diffFailcnt,
  diffMemoryEvents,
  diffOomControl,
  diffPidsEvents,
  diffReservation,
} from "../../src/events/diffCounters.js";

const ctx = { cgroup: "docker/a", at: 1000, source: "poll" } as const;
const mem = (c: Partial<MemoryEventCounters> = {}): MemoryEventCounters => ({
  low: 0,
  high: 0,
  max: 0,
  oom: 0,
  oom_kill: 0,
  oom_group_kill: 0,
  ...c,
});
const cpu = (periods: number, throttledPeriods: number, throttledSeconds = throttledPeriods * 0.01): CpuStat => ({
  periods,
  throttledPeriods,
  throttledSeconds,
  usageSeconds: null,
});

describe("diffCpuStat", () => {
  it.each([
    // [prev periods, prev throttled, next periods, next throttled, ratio or null (no event)]
    [0, 0, 10, 5, 0.5],
    [10, 5, 20, 6, 0.1],
    [10, 5, 20, 15, 1],
    [0, 0, 100, 1, 0.01],
    [100, 10, 200, 10, null], // nothing throttled in the interval
    [100, 10, 200, 9, null], // throttled went down: recreated
    [100, 10, 100, 11, 1], // no new period but a throttled one (read between the two updates): saturate, not Infinity
    [100, 10, 105, 20, 1], // more throttled than periods in one interval: clamped to 1
    [100, 10, 50, 20, null], // periods went down: recreated cgroup, new baseline, no event
  ])("periods/throttled %i/%i → %i/%i: ratio %s", (p0, t0, p1, t1, ratio) => {
    const out = diffCpuStat(cpu(p0, t0), cpu(p1, t1), 1, ctx);
    if (ratio === null) expect(out).toEqual([]);
    else {
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({
        kind: "cpu_throttled",
        cgroup: "docker/a",
        at: 1000,
        source: "poll",
        intervalSeconds: 1,
      });
      expect(out[0]?.kind === "cpu_throttled" ? out[0].ratio : NaN).toBeCloseTo(ratio, 12);
    }
  });

  it("the first read is a baseline, and the event carries both reads", () => {
    expect(diffCpuStat(null, cpu(10, 5), 1, ctx)).toEqual([]);
    expect(diffCpuStat(cpu(10, 5, 0.05), cpu(30, 9, 0.25), 2, ctx)[0]).toMatchObject({
      periods: { before: 10, after: 30 },
      throttledPeriods: { before: 5, after: 9 },
      throttledSeconds: { before: 0.05, after: 0.25 },
      ratio: 0.2,
      intervalSeconds: 2,
    });
  });

  it("property: an event has a ratio in (0, 1]; a counter that went down never yields one", () => {
    const n = fc.nat({ max: 1_000_000 });
    fc.assert(
      fc.property(n, n, n, n, (p0, t0, p1, t1) => {
        const out = diffCpuStat(cpu(p0, t0), cpu(p1, t1), 1, ctx);
        if (p1 < p0 || t1 <= t0) return out.length === 0;
        const e = out[0];
        return (
          out.length === 1 &&
          e?.kind === "cpu_throttled" &&
          e.ratio > 0 &&
          e.ratio <= 1 &&
          (p1 === p0 || e.ratio === Math.min(1, (t1 - t0) / (p1 - p0)))
        );
      }),
    );
  });
});

describe("diffMemoryEvents", () => {
  it("one event per key that went up, in the kernel's order, with the whole delta", () => {
    const out = diffMemoryEvents(mem(), mem({ oom_kill: 2, max: 3, oom: 2, low: 1, high: 4, oom_group_kill: 1 }), ctx);
    expect(out.map((e) => [e.kind, "counter" in e ? e.counter : null])).toEqual([
      ["memory_low", { before: 0, after: 1 }],
      ["memory_high", { before: 0, after: 4 }],
      ["memory_max", { before: 0, after: 3 }],
      ["oom", { before: 0, after: 2 }],
      ["oom_kill", { before: 0, after: 2 }],
      ["oom_group_kill", { before: 0, after: 1 }],
    ]);
  });

  it("the first read is a baseline; equal or lower counters (recreated cgroup) emit nothing", () => {
    expect(diffMemoryEvents(null, mem({ oom_kill: 5 }), ctx)).toEqual([]);
    expect(diffMemoryEvents(mem({ oom_kill: 5 }), mem({ oom_kill: 5 }), ctx)).toEqual([]);
    expect(diffMemoryEvents(mem({ oom_kill: 5 }), mem({ oom_kill: 1 }), ctx)).toEqual([]);
  });
});

describe("diffOomControl", () => {
  const oc = (underOom: boolean, oomKill: number | null, oomKillDisable = false) => ({
    underOom,
    oomKill,
    oomKillDisable,
  });
  // The stall rule (issue 13): the third argument is the stall in force, if any.
  const events = (
    prev: ReturnType<typeof oc> | null,
    next: ReturnType<typeof oc>,
    stall: { since: number; offeredAt: number } | null = null,
  ) => diffOomControl(prev, next, stall, ctx).events;

  it("under_oom edges both ways, and a cgroup first seen under OOM is reported", () => {
    expect(events(null, oc(false, 0))).toEqual([]);
    expect(events(null, oc(true, 0, true))).toMatchObject([
      { kind: "under_oom", underOom: true, oomKillDisable: true },
    ]);
    expect(events(oc(false, 0), oc(true, 0))).toMatchObject([{ kind: "under_oom", underOom: true }]);
    expect(events(oc(true, 0), oc(false, 0), { since: ctx.at - 10, offeredAt: ctx.at - 10 })).toMatchObject([
      { kind: "under_oom", underOom: false },
    ]);
    // A stall already offered at this very read is not offered twice.
    expect(events(oc(true, 0), oc(true, 0), { since: ctx.at, offeredAt: ctx.at })).toEqual([]);
  });

  it("oom_kill deltas; a kernel without oom_kill (before 4.13) or a lower counter emits none", () => {
    expect(events(oc(false, 1), oc(false, 3))).toMatchObject([{ kind: "oom_kill", counter: { before: 1, after: 3 } }]);
    expect(events(oc(false, null), oc(false, null))).toEqual([]);
    expect(events(oc(false, null), oc(false, 2))).toEqual([]);
    expect(events(oc(false, 3), oc(false, 1))).toEqual([]);
  });
});

describe("diffFailcnt, diffPidsEvents", () => {
  it.each([
    [null, 5, false],
    [5, 5, false],
    [5, 4, false],
    [5, 6, true],
  ])("%s → %i: event %s", (prev, next, event) => {
    expect(diffFailcnt(prev, next, ctx)).toEqual(
      event ? [{ kind: "memory_max", ...ctx, counter: { before: prev, after: next } }] : [],
    );
    expect(diffPidsEvents(prev, next, ctx)).toEqual(
      event ? [{ kind: "pids_max", ...ctx, counter: { before: prev, after: next } }] : [],
    );
  });
});

describe("diffReservation", () => {
  it("no reservation: nothing tracked", () => {
    expect(diffReservation(null, 100, null, ctx)).toEqual({ above: null, events: [] });
  });

  it.each([
    // [was above, usage, reservation, now above, event]
    [null, 101, 100, true, true], // first sight already above: a breach now
    [null, 100, 100, false, false], // at the reservation is not above it
    [false, 101, 100, true, true],
    [true, 101, 100, true, false],
    [true, 99, 100, false, true], // back under: the edge down is reported
    [false, 99, 100, false, false],
  ])("was %s, usage %i vs %i → above %s, event %s", (was, usage, reservation, above, event) => {
    const r = diffReservation(was, usage, reservation, ctx);
    expect(r.above).toBe(above);
    expect(r.events).toEqual(
      event ? [{ kind: "reservation_breach", ...ctx, above, usageBytes: usage, reservationBytes: reservation }] : [],
    );
  });
});
