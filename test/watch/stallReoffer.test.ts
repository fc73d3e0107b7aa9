import { afterEach, describe, expect, it, vi } from "vitest";
import type { EventSource, WatchdogEvent } from "../../src/events/types.js";
import { createStallReoffers } from "../../src/watch/stallReoffer.js";

afterEach(() => {
  vi.useRealTimers();
});

const stall = (source: EventSource, underOom = true): WatchdogEvent => ({
  kind: "under_oom",
  cgroup: "c",
  at: 0,
  source,
  underOom,
  oomKillDisable: true,
  stalledMs: 0,
});

describe("stall re-offers", () => {
  it("re-read a lasting stall after 1 s, then backing off to the cap; a notification starts over; the recovery ends it", () => {
    vi.useFakeTimers();
    const at: number[] = [];
    const stalled = true;
    const r = createStallReoffers({
      baseMs: 1000,
      maxMs: 4000,
      persistent: false,
      reoffer: () => {
        at.push(Date.now());
        // Each re-read that finds the stall emits a poll re-offer, as the tracker does.
        if (stalled) r.observe(stall("poll"));
        return stalled;
      },
    });
    const t0 = Date.now();
    r.observe(stall("eventfd"));
    vi.advanceTimersByTime(1000 + 2000 + 4000 + 4000);
    expect(at.map((t) => t - t0)).toEqual([1000, 3000, 7000, 11000]);
    r.observe(stall("eventfd")); // the kernel: stalled again
    at.length = 0;
    const t1 = Date.now();
    vi.advanceTimersByTime(1000);
    expect(at.map((t) => t - t1)).toEqual([1000]);
    r.observe(stall("poll", false));
    expect(r.pending()).toEqual([]);
    vi.advanceTimersByTime(60_000);
    expect(at).toHaveLength(1);
    r.stop();
  });

  it("keeps asking when a re-read found the stall but emitted nothing (a sweep offered it a moment ago)", () => {
    vi.useFakeTimers();
    let calls = 0;
    const r = createStallReoffers({ baseMs: 1000, maxMs: 30_000, persistent: false, reoffer: () => ++calls < 3 });
    r.observe(stall("eventfd"));
    vi.advanceTimersByTime(10_000);
    expect(calls).toBe(3);
    expect(r.pending()).toEqual([]);
    r.stop();
  });

  it("cgroup_removed cancels", () => {
    vi.useFakeTimers();
    let calls = 0;
    const r = createStallReoffers({ baseMs: 1000, maxMs: 30_000, persistent: false, reoffer: () => (calls++, true) });
    r.observe(stall("eventfd"));
    r.observe({ kind: "cgroup_removed", cgroup: "c", at: 0, source: "inotify" });
    vi.advanceTimersByTime(10_000);
    expect(calls).toBe(0);
  });
});
