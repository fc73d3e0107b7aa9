/**
 * The counter file table (events/counterFiles) against captured kernel text
 * (test/fixtures/kernel): each file's parser and diff turn a real before/after
 * pair into the events the kernel's happenings mean, and every counter event
 * raises exactly the series, with exactly the value, that the publisher
 * mirrors from the same read. So the event path and the metrics pass cannot
 * disagree about which series a file feeds (v1 failcnt's memory_max is
 * `failcnt`, v2's is `max`).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { CgroupVersion } from "../../src/cgroup/layout.js";
import { parseCpuStat } from "../../src/cgroup/parse.js";
import { COUNTER_FILES, type AnyCounterFile } from "../../src/events/counterFiles/index.js";
import { diffCpuStat } from "../../src/events/diffCounters.js";
import type { WatchdogEvent } from "../../src/events/types.js";

const FIXTURES = path.join(import.meta.dirname, "..", "fixtures", "kernel");
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), "utf8");
const V2_ZERO = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n";
const ctx = { cgroup: "docker/a", at: 5000, source: "inotify" } as const;

function parsedOf(def: AnyCounterFile, text: string): unknown {
  const p = def.parse(text);
  if (p.kind !== "ok") throw new Error(`${def.file}: ${p.reason}`);
  return p.value;
}

/** Diffs two reads of `file` through its table entry; the events, and what the publisher would mirror from the second read. */
function throughTable(
  file: string,
  before: string,
  after: string,
): { events: WatchdogEvent[]; mirrored: Readonly<Record<string, number>> } {
  const def = COUNTER_FILES.byFile(file);
  if (def === undefined) throw new Error(`${file} is not in the table`);
  const next = parsedOf(def, after);
  const state = { stall: null, oomKillSeenAt: null };
  return { events: def.diff(parsedOf(def, before), next, ctx, state), mirrored: def.metric.values(next) };
}

const summary = (events: readonly WatchdogEvent[]): string[] =>
  events.map((e) => ("counter" in e ? `${e.kind} ${e.counter.before}→${e.counter.after}` : e.kind));

describe("counter files through the table, on captured kernel text", () => {
  it.each<[string, CgroupVersion, string, string, string[]]>([
    // [file, version, before, after, events]
    ["memory.events", 2, V2_ZERO, fixture("v2/memory.events.oom"), ["memory_max 0→35", "oom 0→1", "oom_kill 0→1"]],
    ["memory.events", 2, V2_ZERO, fixture("v2/memory.events.high"), ["memory_high 0→290"]],
    ["memory.events", 2, fixture("v2/memory.events.oom"), fixture("v2/memory.events.oom"), []],
    [
      "memory.oom_control",
      1,
      fixture("v1/memory.oom_control"),
      fixture("v1/memory.oom_control.killed"),
      ["oom_kill 0→1"],
    ],
    ["memory.failcnt", 1, fixture("v1/memory.failcnt"), fixture("v1/memory.failcnt.hit"), ["memory_max 0→94"]],
    // A recreated cgroup: counters went down, a new baseline and no event.
    ["memory.failcnt", 1, fixture("v1/memory.failcnt.hit"), fixture("v1/memory.failcnt"), []],
    ["pids.events", 2, "max 0\n", "max 7\n", ["pids_max 0→7"]],
  ])("%s (v%i): the kernel's happenings become these events", (file, version, before, after, expected) => {
    const { events, mirrored } = throughTable(file, before, after);
    expect(summary(events)).toEqual(expected);
    // Each event raises the series the publisher mirrors from the same read, to the same value.
    for (const e of events) {
      if (!("counter" in e)) continue;
      const m = COUNTER_FILES.mirrorOf(e.kind, version);
      expect(m, `${e.kind} on v${version} raises no series`).not.toBeNull();
      expect(mirrored[m?.label ?? ""], `${file}: ${e.kind} raises ${m?.label}`).toBe(e.counter.after);
    }
  });

  it("the first read of every file is a baseline, even when its counters are far from 0", () => {
    for (const [file, text] of [
      ["memory.events", fixture("v2/memory.events.oom")],
      ["memory.oom_control", fixture("v1/memory.oom_control.killed")],
      ["memory.failcnt", fixture("v1/memory.failcnt.hit")],
    ] as const) {
      const def = COUNTER_FILES.byFile(file);
      expect(def?.diff(null, parsedOf(def, text), ctx, { stall: null, oomKillSeenAt: null }), file).toEqual([]);
    }
  });

  it("a cgroup created while watched diffs from the declared zero: its first OOM kill is not lost", () => {
    const def = COUNTER_FILES.byFile("memory.oom_control");
    if (def === undefined) throw new Error("memory.oom_control is not in the table");
    const state = { stall: null, oomKillSeenAt: null };
    const events = def.diff(def.zero, parsedOf(def, fixture("v1/memory.oom_control.killed")), ctx, state);
    expect(summary(events)).toEqual(["oom_kill 0→1"]);
    // The kill confirms the notification read at ctx.at (its follow-up re-reads stop).
    expect(state.oomKillSeenAt).toBe(ctx.at);
  });
});

describe("diffCpuStat on captured v1 cpu.stat (a busy loop under a 20% quota)", () => {
  it("15 of 16 periods throttled: ratio 15/16, throttled_time in ns becomes seconds", () => {
    const before = parseCpuStat(fixture("v1/cpu.stat"));
    const after = parseCpuStat(fixture("v1/cpu.stat.throttled"));
    if (before.kind !== "ok" || after.kind !== "ok") throw new Error("fixture did not parse");
    const [event, ...rest] = diffCpuStat(before.value, after.value, 1.5, { ...ctx, source: "poll" });
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      kind: "cpu_throttled",
      periods: { before: 0, after: 16 },
      throttledPeriods: { before: 0, after: 15 },
      ratio: 15 / 16,
      intervalSeconds: 1.5,
    });
    expect(event?.kind === "cpu_throttled" ? event.throttledSeconds.after : null).toBeCloseTo(1.196463028, 9);
  });
});
