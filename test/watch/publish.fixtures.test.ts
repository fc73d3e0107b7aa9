/**
 * One cgroup's metrics pass (watch/publishCgroup.ts publishOne, what the
 * publisher runs per cgroup) on fake trees holding captured kernel text
 * (test/fixtures/kernel): cpu.stat through the shared parser (v1 ns, a v2
 * cpu.stat without the cpu controller's throttling keys, counts above 2^53),
 * the counter files' last reads as the table mirrors them, PSI totals.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createFileReader, type FileReader } from "../../src/cgroup/read.js";
import { COUNTER_FILES } from "../../src/events/counterFiles/index.js";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.js";
import { publishOne } from "../../src/watch/publishCgroup.js";
import { createTracker } from "../../src/watch/tracker.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";
import { parseExposition } from "../helpers/parseExposition.js";

const FIXTURES = path.join(import.meta.dirname, "..", "fixtures", "kernel");
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), "utf8");

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(
  version: 1 | 2,
  overrides: Record<string, string>,
): { host: FakeHost; reader: FileReader; metrics: Metrics } {
  const host = fakeHost(version);
  const reader = createFileReader();
  cleanups.push(() => (reader.close(), host.cleanup()));
  host.addCgroup("app", overrides);
  const metrics = createMetrics({ processMetrics: false, build: { version: "test" } });
  metrics.addCgroup("app", { origin: "startup", memory: version, cpu: version, pids: true });
  return { host, reader, metrics };
}

/** Sweeps the tracker (its counters are what the pass mirrors), runs one pass, returns the cgroup's samples as "name{label=value,…} value". */
async function pass(version: 1 | 2, overrides: Record<string, string>): Promise<Map<string, number>> {
  const { host, reader, metrics } = setup(version, overrides);
  const tracker = createTracker({ layout: host.layout, reader, cgroup: "app" });
  tracker.sweepCounters(1, "poll");
  publishOne(tracker, { layout: host.layout, reader, metrics, counterFiles: COUNTER_FILES, labelsOf: () => ({}) });
  tracker.close();
  const out = new Map<string, number>();
  for (const s of parseExposition(await metrics.render()).samples) {
    if (s.labels["cgroup"] !== "app") continue;
    const extra = Object.entries(s.labels)
      .filter(([k]) => k !== "cgroup")
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    out.set(extra === "" ? s.name : `${s.name}{${extra}}`, s.value);
  }
  return out;
}

describe("a metrics pass on captured kernel text", () => {
  it("v1: cpu.stat's throttled_time (ns) in seconds, periods as counts; oom_control and failcnt as the table mirrors them", async () => {
    const m = await pass(1, {
      "cpu.stat": fixture("v1/cpu.stat.throttled"),
      "memory.oom_control": fixture("v1/memory.oom_control.killed"),
      "memory.failcnt": fixture("v1/memory.failcnt.hit"),
    });
    expect(m.get("cgwatch_cpu_periods_total")).toBe(16);
    expect(m.get("cgwatch_cpu_throttled_periods_total")).toBe(15);
    expect(m.get("cgwatch_cpu_throttled_seconds_total")).toBeCloseTo(1.196463028, 9);
    expect(m.get("cgwatch_memory_events_total{event=oom_kill}")).toBe(1);
    expect(m.get("cgwatch_memory_events_total{event=failcnt}")).toBe(94);
    expect(m.get("cgwatch_under_oom")).toBe(0);
    // v1 has no memory.events: none of its keys appear.
    expect(m.has("cgwatch_memory_events_total{event=max}")).toBe(false);
  });

  it("v2: memory.events after an OOM kill, PSI totals in seconds", async () => {
    const m = await pass(2, {
      "memory.events": fixture("v2/memory.events.oom"),
      "memory.pressure": fixture("v2/memory.pressure"),
      "cpu.pressure": fixture("v2/cpu.pressure"),
    });
    expect(m.get("cgwatch_memory_events_total{event=max}")).toBe(35);
    expect(m.get("cgwatch_memory_events_total{event=oom}")).toBe(1);
    expect(m.get("cgwatch_memory_events_total{event=oom_kill}")).toBe(1);
    expect(m.has("cgwatch_memory_events_total{event=failcnt}")).toBe(false);
    expect(m.has("cgwatch_under_oom")).toBe(false);
    expect(m.get("cgwatch_pressure_stalled_seconds_total{resource=memory,kind=some}")).toBeCloseTo(0.00553, 9);
    expect(m.get("cgwatch_pressure_stalled_seconds_total{resource=cpu,kind=some}")).toBeCloseTo(3.975102, 9);
    expect(m.get("cgwatch_pressure_stalled_seconds_total{resource=cpu,kind=full}")).toBe(0);
  });

  it("v2 cpu.stat without the cpu controller's keys: usage only, no period counters invented at 0", async () => {
    const m = await pass(2, { "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n" });
    expect(m.get("cgwatch_cpu_usage_seconds_total")).toBe(2.5);
    expect(m.has("cgwatch_cpu_periods_total")).toBe(false);
    expect(m.has("cgwatch_cpu_throttled_seconds_total")).toBe(false);
  });

  it("a period count above 2^53 is left out (not exported rounded); the time counter still is", async () => {
    const m = await pass(2, {
      "cpu.stat": "usage_usec 10\nnr_periods 18446744073709551615\nnr_throttled 3\nthrottled_usec 1500000\n",
    });
    expect(m.has("cgwatch_cpu_periods_total")).toBe(false);
    expect(m.get("cgwatch_cpu_throttled_periods_total")).toBe(3);
    expect(m.get("cgwatch_cpu_throttled_seconds_total")).toBe(1.5);
  });
});
