import { describe, expect, it } from "vitest";
import { judgePsiWake, parseTriggerText, recordStall, type StallReading } from "../../src/events/diffPressure.js";

const TRIGGER = "some 150000 1000000";
const at = (ms: number, someUs: number, fullUs: number | null = someUs / 2): StallReading => ({
  at: ms,
  someUs,
  fullUs,
});

describe("judgePsiWake", () => {
  it("reports the stall growth over the newest reading at least one window old", () => {
    const history = [at(0, 1_000), at(500, 90_000), at(1_200, 300_000)];
    expect(judgePsiWake(TRIGGER, history, at(2_300, 520_000))).toEqual({
      kind: "pressure",
      stall: { type: "some", stallUs: 220_000, overMs: 1_100, thresholdUs: 150_000, windowUs: 1_000_000 },
    });
  });

  it("falls back to the oldest reading right after the trigger was armed", () => {
    expect(judgePsiWake(TRIGGER, [at(100, 5_000), at(400, 9_000)], at(700, 170_000))).toMatchObject({
      kind: "pressure",
      stall: { stallUs: 165_000, overMs: 600 },
    });
  });

  it("uses the full total for a full trigger", () => {
    expect(judgePsiWake("full 100000 2000000", [at(0, 0, 10)], at(2_500, 900_000, 250_010))).toMatchObject({
      kind: "pressure",
      stall: { type: "full", stallUs: 250_000 },
    });
  });

  it("is no pressure when the total did not move over the window (a removed cgroup's wake)", () => {
    expect(judgePsiWake(TRIGGER, [at(0, 42_000), at(3_000, 42_000)], at(3_100, 42_000))).toEqual({ kind: "no_stall" });
  });

  it("has no figures without an earlier reading, or for a file without the trigger's line", () => {
    expect(judgePsiWake(TRIGGER, [], at(10, 5))).toEqual({ kind: "no_baseline" });
    expect(judgePsiWake("full 100000 1000000", [at(0, 0, null)], at(2_000, 10, null))).toEqual({ kind: "no_baseline" });
    expect(judgePsiWake("medium", [at(0, 0)], at(2_000, 10))).toEqual({ kind: "no_baseline" });
  });
});

describe("recordStall", () => {
  it("keeps what a 10 s window can use, newest last", () => {
    let h: StallReading[] = [];
    for (let t = 0; t <= 40_000; t += 1_000) h = recordStall(h, at(t, t));
    expect(h[0]?.at).toBe(20_000);
    expect(h[h.length - 1]?.at).toBe(40_000);
    expect(h.length).toBe(21);
  });

  it("bounds the history even when wakes come fast", () => {
    let h: StallReading[] = [];
    for (let t = 0; t < 100; t++) h = recordStall(h, at(t, t));
    expect(h.length).toBe(32);
  });
});

describe("parseTriggerText", () => {
  it("splits the kernel's trigger syntax", () => {
    expect(parseTriggerText(" some 150000 1000000 ")).toEqual({
      type: "some",
      thresholdUs: 150_000,
      windowUs: 1_000_000,
    });
    expect(parseTriggerText("some 150ms 1s")).toBeNull();
  });
});
