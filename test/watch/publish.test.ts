/**
 * The state publisher (watch/publish.ts) on fake v1 and v2 trees: what it
 * reads (limits, usage, cpuset, cpu.stat, PSI totals, block I/O, v1
 * kmem/under_oom) is what /metrics shows. Its per-cgroup errors are
 * swallowed by design (a cgroup vanishing mid-pass), so only the gauges
 * appearing can prove that a pass did its work.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createFileReader } from "../../src/cgroup/read.js";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.js";
import { publishCgroupState, type Publisher } from "../../src/watch/publish.js";
import { createWatcher } from "../../src/watch/watcher.js";
import { collect } from "../helpers/collect.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";

let host: FakeHost | null = null;
const stops: (() => void)[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
  host?.cleanup();
  host = null;
});

/** Renders /metrics until `name` has a series for `cgroup` (the publisher's pass has run), bounded. */
async function renderedWith(metrics: Metrics, name: string, cgroup: string, timeoutMs = 20_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = await metrics.render();
    if (sample(s, name, cgroup) !== null) return s;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out waiting for ${name}{cgroup="${cgroup}"}; /metrics was:\n${s.slice(0, 3000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Value of the one series of `name` whose labels include cgroup="<cgroup>" and every `labels` pair. */
function sample(text: string, name: string, cgroup: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf("}"));
    const want = { cgroup, ...labels };
    if (Object.entries(want).every(([k, v]) => body.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf("}") + 1).trim());
  }
  return null;
}

async function publishOnce(h: FakeHost, cgroup: string, memory: 1 | 2): Promise<Metrics> {
  return (await startPublisher(h, cgroup, [cgroup], memory)).metrics;
}

/** A watcher on `pattern` and a publisher whose metrics know only the cgroups in `known`; the first pass kicked. */
async function startPublisher(
  h: FakeHost,
  pattern: string,
  known: readonly string[],
  memory: 1 | 2,
): Promise<{ metrics: Metrics; publisher: Publisher; watched: number }> {
  const reader = createFileReader();
  const watcher = createWatcher({
    layout: h.layout,
    reader,
    patterns: [pattern],
    pollIntervalMs: 0,
    safetyNetIntervalMs: 0,
    persistent: false,
  });
  const sub = collect(watcher.events$).sub;
  const metrics = createMetrics({ processMetrics: false, build: { version: "test" } });
  const watched = await watcher.ready;
  for (const cgroup of known) metrics.addCgroup(cgroup, { origin: "startup", memory, cpu: memory, pids: true });
  const publisher = publishCgroupState({
    watcher,
    layout: h.layout,
    reader,
    metrics,
    labelsOf: () => ({}),
    everyMs: 3_600_000,
    persistent: false,
  });
  stops.push(() => (publisher.stop(), sub.unsubscribe(), reader.close()));
  publisher.kick();
  return { metrics, publisher, watched };
}

describe("state publisher", () => {
  it("v2: limits, usage, cpuset, cpu.stat counters, PSI totals and io.stat reach /metrics", async () => {
    host = fakeHost(2);
    host.addCgroup("app", {
      "memory.max": "268435456\n",
      "memory.current": "104857600\n",
      "cpuset.cpus.effective": "0-2,5\n",
      "cpu.stat":
        "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 40\nnr_throttled 10\nthrottled_usec 500000\nnr_bursts 0\nburst_usec 0\n",
      "memory.pressure":
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n",
      "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
    });
    const t = await renderedWith(await publishOnce(host, "app", 2), "cgwatch_memory_limit_bytes", "app");
    expect(sample(t, "cgwatch_memory_limit_bytes", "app")).toBe(268435456);
    expect(sample(t, "cgwatch_memory_usage_bytes", "app")).toBe(104857600);
    expect(sample(t, "cgwatch_cpuset_cpus", "app")).toBe(4);
    expect(sample(t, "cgwatch_cpu_periods_total", "app")).toBe(40);
    expect(sample(t, "cgwatch_cpu_throttled_periods_total", "app")).toBe(10);
    expect(sample(t, "cgwatch_cpu_throttled_seconds_total", "app")).toBeCloseTo(0.5, 9);
    expect(
      sample(t, "cgwatch_pressure_stalled_seconds_total", "app", { resource: "memory", kind: "some" }),
    ).toBeCloseTo(2.5, 9);
    expect(
      sample(t, "cgwatch_pressure_stalled_seconds_total", "app", { resource: "memory", kind: "full" }),
    ).toBeCloseTo(1, 9);
    expect(sample(t, "cgwatch_io_bytes_total", "app", { device: "8:0", op: "write" })).toBe(8192);
  });

  it("v1: kmem, under_oom, oom_kill and failcnt, throttled_time in ns, blkio bytes and ops", async () => {
    host = fakeHost(1);
    host.addCgroup("app", {
      "memory.limit_in_bytes": "134217728\n",
      "memory.kmem.usage_in_bytes": "65536\n",
      "memory.oom_control": "oom_kill_disable 1\nunder_oom 1\noom_kill 3\n",
      "memory.failcnt": "9\n",
      "cpu.stat": "nr_periods 20\nnr_throttled 5\nthrottled_time 250000000\n",
      "blkio.throttle.io_service_bytes": "8:0 Read 1024\n8:0 Write 2048\n8:0 Total 3072\nTotal 3072\n",
      "blkio.throttle.io_serviced": "8:0 Read 3\n8:0 Write 4\n8:0 Total 7\nTotal 7\n",
    });
    const t = await renderedWith(await publishOnce(host, "app", 1), "cgwatch_memory_limit_bytes", "app");
    expect(sample(t, "cgwatch_memory_limit_bytes", "app")).toBe(134217728);
    expect(sample(t, "cgwatch_memory_kernel_bytes", "app")).toBe(65536);
    expect(sample(t, "cgwatch_under_oom", "app")).toBe(1);
    expect(sample(t, "cgwatch_memory_events_total", "app", { event: "oom_kill" })).toBe(3);
    expect(sample(t, "cgwatch_memory_events_total", "app", { event: "failcnt" })).toBe(9);
    expect(sample(t, "cgwatch_cpu_throttled_seconds_total", "app")).toBeCloseTo(0.25, 9);
    expect(sample(t, "cgwatch_io_bytes_total", "app", { device: "8:0", op: "read" })).toBe(1024);
    expect(sample(t, "cgwatch_io_operations_total", "app", { device: "8:0", op: "write" })).toBe(4);
  });

  it("refresh after a write re-reads what an action can change (limits, I/O throttles), not the counters", async () => {
    host = fakeHost(2);
    host.addCgroup("app", {
      "memory.max": "268435456\n",
      "cpu.stat": "usage_usec 1\nnr_periods 40\nnr_throttled 10\nthrottled_usec 500000\n",
      "io.max": "8:0 rbps=1048576 wbps=max riops=max wiops=max\n",
    });
    const { metrics, publisher } = await startPublisher(host, "app", ["app"], 2);
    await renderedWith(metrics, "cgwatch_memory_limit_bytes", "app");
    host.write("app", "memory.max", "536870912\n");
    host.write("app", "io.max", "8:0 rbps=2097152 wbps=max riops=max wiops=max\n");
    host.write("app", "cpu.stat", "usage_usec 2\nnr_periods 90\nnr_throttled 30\nthrottled_usec 900000\n");
    publisher.refresh("app");
    const t = await metrics.render();
    expect(sample(t, "cgwatch_memory_limit_bytes", "app")).toBe(536870912);
    expect(sample(t, "cgwatch_io_limit_bytes_per_second", "app", { device: "8:0", op: "read" })).toBe(2097152);
    // CPU time is the next pass's to mirror: a write does not move it.
    expect(sample(t, "cgwatch_cpu_periods_total", "app")).toBe(40);
  });

  it("a cgroup the metrics do not know (removed meanwhile) is skipped, the others still published", async () => {
    host = fakeHost(2);
    host.addCgroup("a", { "memory.max": "1048576\n" });
    host.addCgroup("b", { "memory.max": "2097152\n" });
    const { metrics, watched } = await startPublisher(host, "*", ["b"], 2);
    expect(watched).toBe(2);
    const t = await renderedWith(metrics, "cgwatch_memory_limit_bytes", "b");
    expect(sample(t, "cgwatch_memory_limit_bytes", "a")).toBeNull();
  });
});
