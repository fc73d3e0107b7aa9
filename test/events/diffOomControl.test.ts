/**
 * The v1 under_oom rule: a stall is a standing emergency. Each read that
 * shows it is an event when it is news (new stall, a notification of a
 * re-stall, a poll re-offer), whatever the last read said; the recovery is
 * an event; a notification's follow-up re-reads (same `at`) repeat nothing.
 */
import { describe, expect, it } from "vitest";
import type { OomControl } from "../../src/cgroup/parse.js";
import { STALL_REOFFER_MIN_MS, diffOomControl, type StallState } from "../../src/events/diffCounters.js";
import type { EventSource, WatchdogEvent } from "../../src/events/types.js";

const oc = (underOom: boolean, oomKill = 0): OomControl => ({ oomKillDisable: true, underOom, oomKill });

/** Feeds reads in order through diffOomControl, carrying prev and the stall state like the tracker does. */
function run(
  reads: readonly { under: boolean; at: number; source?: EventSource; kills?: number }[],
): WatchdogEvent[][] {
  let prev: OomControl | null = null;
  let stall: StallState | null = null;
  return reads.map((r) => {
    const next = oc(r.under, r.kills ?? 0);
    const d = diffOomControl(prev, next, stall, { cgroup: "c", at: r.at, source: r.source ?? "eventfd" });
    prev = next;
    stall = d.stall;
    return d.events;
  });
}

const summary = (evs: WatchdogEvent[][]): string[][] =>
  evs.map((es) =>
    es.map((e) => (e.kind === "under_oom" ? `${e.underOom ? "stall" : "recovered"}@${e.stalledMs}` : e.kind)),
  );

describe("diffOomControl: under_oom as a standing emergency", () => {
  it("a re-stall notification is an event although the last read already said under_oom 1 (the bug of issue 13)", () => {
    expect(
      summary(
        run([
          { under: false, at: 0, source: "poll" }, // baseline
          { under: true, at: 100 }, // stall
          { under: true, at: 101 }, // the kernel notified again: a re-stall after a raise
          { under: true, at: 101 }, // that notification's follow-up re-read: nothing new
          { under: true, at: 140 }, // and again
          { under: false, at: 150, source: "poll" }, // recovered
        ]),
      ),
    ).toEqual([[], ["stall@0"], ["stall@1"], [], ["stall@40"], ["recovered@50"]]);
  });

  it("a poll read re-offers a lasting stall, at most every STALL_REOFFER_MIN_MS", () => {
    const m = STALL_REOFFER_MIN_MS;
    expect(
      summary(
        run([
          { under: true, at: 0 }, // first sight: stalled now
          { under: true, at: m - 1, source: "poll" }, // a sweep right after the notification: not twice
          { under: true, at: m, source: "poll" },
          { under: true, at: m + 1, source: "poll" },
          { under: true, at: 3 * m, source: "poll" },
        ]),
      ),
    ).toEqual([["stall@0"], [], [`stall@${m}`], [], [`stall@${3 * m}`]]);
  });

  it("a notification's late follow-up re-read after a poll re-offer is not a new stall", () => {
    expect(
      summary(
        run([
          { under: true, at: 100 }, // notification
          { under: true, at: 1100, source: "poll" }, // re-offer after 1 s
          { under: true, at: 100 }, // the notification's 1 s follow-up re-read, delivered after it
          { under: true, at: 1200 }, // a real new notification
        ]),
      ),
    ).toEqual([["stall@0"], ["stall@1000"], [], ["stall@1100"]]);
  });

  it("counts oom_kill by delta beside the stall, and a kill ends nothing by itself", () => {
    const evs = run([
      { under: false, at: 0, kills: 2, source: "poll" },
      { under: true, at: 10, kills: 2 },
      { under: false, at: 10, kills: 3 },
    ]);
    expect(summary(evs)).toEqual([[], ["stall@0"], ["recovered@0", "oom_kill"]]);
    expect(evs[2]?.[1]).toMatchObject({ kind: "oom_kill", counter: { before: 2, after: 3 } });
  });

  it("no stall, no event, however often it is read", () => {
    expect(
      summary(
        run([
          { under: false, at: 0 },
          { under: false, at: 1 },
          { under: false, at: 2000, source: "poll" },
        ]),
      ),
    ).toEqual([[], [], []]);
  });
});
