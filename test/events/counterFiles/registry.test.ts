/**
 * The table of watched counter files is the one place a counter file is
 * declared: a file registered here, in the test and nowhere in src, is read
 * by the tracker's sweeps, diffed into events by the watcher on a fake tree,
 * mirrored by the metrics (the series its events raise, the series a new
 * cgroup starts at 0) and by the publisher, with no other source edit. And
 * the registry holds the table to one meaning per event kind and version.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseInteger } from "../../../src/cgroup/parse.js";
import { createFileReader } from "../../../src/cgroup/read.js";
import {
  BUILTIN_COUNTER_FILES,
  COUNTER_FILES,
  createCounterFiles,
  defineCounterFile,
} from "../../../src/events/counterFiles/index.js";
import type { WatchdogEvent } from "../../../src/events/types.js";
import { createMetrics } from "../../../src/metrics/metrics.js";
import { publishOne } from "../../../src/watch/publishCgroup.js";
import { createTracker } from "../../../src/watch/tracker.js";
import { createWatcher } from "../../../src/watch/watcher.js";
import { collect } from "../../helpers/collect.js";
import { fakeHost, type FakeHost } from "../../helpers/fakeCgroupfs.js";
import { parseExposition } from "../../helpers/parseExposition.js";

/**
 * A counter cgwatch does not ship: v1 memory.memsw.failcnt (times memory+swap
 * hit its limit). Its events are memory_high here only because that is a
 * kind no v1 file emits; its series is memory_events{event="memsw_failcnt"}.
 * One declaration, as a src module would hold it.
 */
const memswFailcnt = defineCounterFile({
  key: "memswFailcnt",
  file: "memory.memsw.failcnt",
  controller: "memory",
  notify: { 1: "poll" },
  parse: parseInteger,
  zero: 0,
  diff: (prev, next, ctx): WatchdogEvent[] =>
    prev === null || next <= prev
      ? []
      : [
          {
            kind: "memory_high",
            cgroup: ctx.cgroup,
            at: ctx.at,
            source: ctx.source,
            counter: { before: prev, after: next },
          },
        ],
  metric: { family: "memory_events", events: { memory_high: "memsw_failcnt" }, values: (v) => ({ memsw_failcnt: v }) },
});
/** The one registry line. */
const registry = createCounterFiles([...BUILTIN_COUNTER_FILES, memswFailcnt]);

const hosts: FakeHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup();
});

function v1Host(): FakeHost {
  const host = fakeHost(1);
  hosts.push(host);
  host.addCgroup("app", { "memory.memsw.failcnt": "0\n" });
  return host;
}

async function sampleOf(metrics: ReturnType<typeof createMetrics>, event: string): Promise<number | undefined> {
  const parsed = parseExposition(await metrics.render());
  return parsed.samples.find(
    (s) => s.name === "cgwatch_memory_events_total" && s.labels["cgroup"] === "app" && s.labels["event"] === event,
  )?.value;
}

describe("a test-only watched counter: one declaration and one registry line", () => {
  it("is polled on a fake v1 tree and its increments become events with the whole delta", async () => {
    const host = v1Host();
    const reader = createFileReader();
    const watcher = createWatcher({
      layout: host.layout,
      reader,
      patterns: ["app"],
      pollIntervalMs: 20,
      safetyNetIntervalMs: 60_000,
      persistent: false,
      counterFiles: registry,
    });
    const c = collect(watcher.events$);
    try {
      expect(await watcher.ready).toBe(1);
      expect(watcher.notifierOf("app")).toBe("poll");
      host.write("app", "memory.memsw.failcnt", "3\n");
      const events = await c.until((vs) => vs.some((e) => e.kind === "memory_high"));
      expect(events.filter((e) => e.kind === "memory_high").map(({ at: _at, ...rest }) => rest)).toEqual([
        { kind: "memory_high", cgroup: "app", source: "poll", counter: { before: 0, after: 3 } },
      ]);
      expect((watcher.trackers.get("app")?.counters as unknown as Record<string, unknown>)["memswFailcnt"]).toBe(3);
    } finally {
      c.sub.unsubscribe();
      reader.close();
    }
  });

  it("is mirrored by the metrics: a new v1 cgroup starts its series at 0, its event raises it, the publisher repairs it", async () => {
    const host = v1Host();
    const reader = createFileReader();
    const metrics = createMetrics({ counterFiles: registry, processMetrics: false });
    metrics.addCgroup("app", { origin: "created", memory: 1 });
    expect(await sampleOf(metrics, "memsw_failcnt")).toBe(0);
    const event: WatchdogEvent = {
      kind: "memory_high",
      cgroup: "app",
      at: 1,
      source: "poll",
      counter: { before: 0, after: 4 },
    };
    metrics.recordEvent(event);
    expect(await sampleOf(metrics, "memsw_failcnt")).toBe(4);
    // v1 memory_max (from memory.failcnt) still raises failcnt, not max.
    metrics.recordEvent({ ...event, kind: "memory_max", counter: { before: 0, after: 2 } });
    expect(await sampleOf(metrics, "failcnt")).toBe(2);
    expect(await sampleOf(metrics, "max")).toBeUndefined();

    host.write("app", "memory.memsw.failcnt", "9\n");
    const tracker = createTracker({ layout: host.layout, reader, cgroup: "app", counterFiles: registry });
    tracker.sweepCounters(2, "poll");
    publishOne(tracker, { layout: host.layout, reader, metrics, counterFiles: registry, labelsOf: () => ({}) });
    expect(await sampleOf(metrics, "memsw_failcnt")).toBe(9);
    tracker.close();
    reader.close();
  });

  it("is unknown to the shipped table: registering it is what made it watched", async () => {
    const host = v1Host();
    const reader = createFileReader();
    expect(COUNTER_FILES.byFile("memory.memsw.failcnt")).toBeUndefined();
    const problems: string[] = [];
    const tracker = createTracker({
      layout: host.layout,
      reader,
      cgroup: "app",
      onProblem: (p) => problems.push(`${p.file}: ${p.reason}`),
    });
    tracker.sweepCounters(1, "poll");
    host.write("app", "memory.memsw.failcnt", "5\n");
    expect(tracker.sweepCounters(2, "poll")).toEqual([]);
    expect(
      tracker.handle({ kind: "file_changed", cgroup: "app", file: "memory.memsw.failcnt", source: "poll", at: 3 }),
    ).toEqual([]);
    expect(problems).toEqual(["memory.memsw.failcnt: no reader for this file"]);
    const metrics = createMetrics({ processMetrics: false });
    metrics.addCgroup("app", { origin: "created", memory: 1 });
    expect(await sampleOf(metrics, "memsw_failcnt")).toBeUndefined();
    tracker.close();
    reader.close();
  });
});

describe("the registry holds the table to one meaning per event kind and version", () => {
  it("refuses a second series for an event kind on the same version, and a file declared twice", () => {
    const clash = { ...memswFailcnt, metric: { ...memswFailcnt.metric, events: { memory_max: "memsw_failcnt" } } };
    expect(() => createCounterFiles([...BUILTIN_COUNTER_FILES, clash])).toThrow(
      'memory.memsw.failcnt: memory_max on cgroup v1 already raises memory_events{event="failcnt"}',
    );
    expect(() => createCounterFiles([...BUILTIN_COUNTER_FILES, { ...memswFailcnt, file: "memory.failcnt" }])).toThrow(
      "counter file memory.failcnt is declared twice",
    );
  });

  it("maps each counter event back to the series of the file that emits it, per version", () => {
    expect(COUNTER_FILES.mirrorOf("memory_max", 1)).toEqual({ family: "memory_events", label: "failcnt" });
    expect(COUNTER_FILES.mirrorOf("memory_max", 2)).toEqual({ family: "memory_events", label: "max" });
    expect(COUNTER_FILES.mirrorOf("memory_max", null)).toEqual({ family: "memory_events", label: "max" });
    expect(COUNTER_FILES.mirrorOf("oom_kill", 1)).toEqual({ family: "memory_events", label: "oom_kill" });
    expect(COUNTER_FILES.mirrorOf("pids_max", 1)).toEqual({ family: "pids_events", label: "max" });
    expect(COUNTER_FILES.mirrorOf("memory_high", 1)).toBeNull();
    expect(COUNTER_FILES.mirrorOf("under_oom", 1)).toBeNull();
    const v = (memory: 1 | 2) => (c: string) => (c === "memory" ? memory : c === "pids" ? 2 : null);
    expect(COUNTER_FILES.zeroLabels("memory_events", v(1))).toEqual(["oom_kill", "failcnt"]);
    expect(COUNTER_FILES.zeroLabels("memory_events", v(2))).toEqual([
      "low",
      "high",
      "max",
      "oom",
      "oom_kill",
      "oom_group_kill",
    ]);
    expect(COUNTER_FILES.zeroLabels("pids_events", v(2))).toEqual(["max"]);
  });
});
