/**
 * End to end against a real Prometheus: it scrapes cgwatch's metrics server
 * every second while a real cgroup v1 OOM kill happens in a scratch cgroup
 * (python hog past a 50M limit) and a real CFS-throttled burner runs in a
 * scratch cpu cgroup. Then: increase() of the oom_kill mirror is >= 1, the
 * CgwatchOOMKill alert fires, and every PromQL expression of every
 * dashboard panel and alert rule runs without error (with data where the
 * panel is about memory/cpu of these cgroups).
 *
 * TEMPORARY FEEDER: until the daemon lands, a minimal loop in this test
 * polls the scratch cgroups every 100 ms (memory.oom_control & co., cpu.stat)
 * and calls the metrics setters the daemon will call. The lead replaces
 * `startFeeder` with the real daemon.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import type { CgroupSnapshot } from "../../src/cgroup/snapshot.js";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.js";
import { startMetricsServer, type MetricsServer } from "../../src/metrics/server.js";
import { cpuLoopArgs, createScratchCgroup, describeRealV1, hogArgs, waitExit, type ScratchCgroup } from "../helpers/realCgroup.js";
import {
  dashboardVariableQueries,
  prometheusUnavailable,
  shippedQueries,
  startPrometheus,
  substituteGrafanaVars,
  waitFor,
  type RunningPrometheus,
} from "./harness.js";

/** `key value` lines (memory.oom_control, cpu.stat) to a map. */
function keyValues(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) m.set(k, Number(v));
  }
  return m;
}

const UNLIMITED = 2 ** 62; // v1 reports "no limit" as PAGE_COUNTER_MAX pages, about 2^63

function startFeeder(metrics: Metrics, mem: ScratchCgroup, cpu: ScratchCgroup): () => void {
  const num = (s: ScratchCgroup, c: string, f: string): number | null => {
    try {
      const v = Number(s.read(c, f).trim());
      return Number.isFinite(v) ? v : null;
    } catch {
      return null;
    }
  };
  const lim = (v: number | null): number | null => (v === null || v >= UNLIMITED ? null : v);
  let lastOomKills = 0;
  const tick = (): void => {
    try {
      const oc = keyValues(mem.read("memory", "memory.oom_control"));
      const oomKills = oc.get("oom_kill") ?? 0;
      const snap: CgroupSnapshot = {
        path: mem.cgroup,
        labels: {},
        memory: {
          version: 1,
          usageBytes: num(mem, "memory", "memory.usage_in_bytes"),
          limitBytes: lim(num(mem, "memory", "memory.limit_in_bytes")),
          swapLimitBytes: lim(num(mem, "memory", "memory.memsw.limit_in_bytes")),
          reservationBytes: lim(num(mem, "memory", "memory.soft_limit_in_bytes")),
          highBytes: null,
          swappiness: num(mem, "memory", "memory.swappiness"),
          oomKillDisable: oc.get("oom_kill_disable") === 1,
          underOom: oc.get("under_oom") === 1,
          oomKills,
        },
        cpu: null,
        pids: null,
      };
      metrics.setCgroupState(mem.cgroup, snap, { kernelMemoryBytes: num(mem, "memory", "memory.kmem.usage_in_bytes") });
      metrics.setMemoryEventCounters(mem.cgroup, { oom_kill: oomKills, failcnt: num(mem, "memory", "memory.failcnt") ?? 0 });
      if (oomKills > lastOomKills) {
        metrics.recordEvent({ kind: "oom_kill", cgroup: mem.cgroup, at: performance.now(), source: "poll", counter: { before: lastOomKills, after: oomKills } });
        lastOomKills = oomKills;
      }
      const st = keyValues(cpu.read("cpu", "cpu.stat"));
      const quota = num(cpu, "cpu", "cpu.cfs_quota_us");
      metrics.setCgroupState(cpu.cgroup, {
        path: cpu.cgroup,
        labels: {},
        memory: null,
        cpu: { version: 1, quotaUs: quota === null || quota < 0 ? null : quota, periodUs: num(cpu, "cpu", "cpu.cfs_period_us"), burstUs: num(cpu, "cpu", "cpu.cfs_burst_us"), shares: num(cpu, "cpu", "cpu.shares"), weight: null, usageSeconds: (num(cpu, "cpuacct", "cpuacct.usage") ?? 0) / 1e9 },
        pids: null,
      });
      metrics.setCpuCounters(cpu.cgroup, { periods: st.get("nr_periods") ?? 0, throttledPeriods: st.get("nr_throttled") ?? 0, throttledSeconds: (st.get("throttled_time") ?? 0) / 1e9 });
      metrics.heartbeat();
    } catch {
      /* a read raced the cgroup's removal at teardown */
    }
  };
  tick();
  const timer = setInterval(tick, 100);
  return () => clearInterval(timer);
}

const promMissing = prometheusUnavailable();

describeRealV1("Prometheus scrapes cgwatch through a real OOM kill", ["memory", "cpu", "cpuacct"], () => {
  let mem: ScratchCgroup | null = null;
  let cpu: ScratchCgroup | null = null;
  let server: MetricsServer | null = null;
  let prom: RunningPrometheus | null = null;
  let stopFeeder: (() => void) | null = null;
  const metrics = createMetrics({ build: { version: "test" } });

  beforeAll(async () => {
    if (promMissing !== null) throw new Error(promMissing);
    mem = createScratchCgroup(["memory"], "prom");
    cpu = createScratchCgroup(["cpu", "cpuacct"], "prom");
    mem.write("memory", "memory.limit_in_bytes", String(50 * 1024 * 1024));
    try {
      mem.write("memory", "memory.memsw.limit_in_bytes", String(50 * 1024 * 1024));
    } catch {
      /* no swap accounting on this kernel: the memory limit alone bounds the hog */
    }
    cpu.write("cpu", "cpu.cfs_quota_us", "10000"); // 0.1 CPU: the burner is throttled every period
    metrics.addCgroup(mem.cgroup, { origin: "created", memory: 1 });
    metrics.addCgroup(cpu.cgroup, { origin: "created", cpu: 1 });
    stopFeeder = startFeeder(metrics, mem, cpu);
    server = await startMetricsServer({ metrics, port: 0 });
    prom = await startPrometheus([`127.0.0.1:${server.port}`]);
  }, 60_000);

  afterAll(async () => {
    stopFeeder?.();
    await prom?.stop();
    await server?.close();
    // Scratch cgroups go even when assertions failed; each removal kills what it started.
    const errors: unknown[] = [];
    for (const s of [mem, cpu]) {
      try {
        await s?.remove();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }, 60_000);

  it("sees the OOM kill through increase(), fires CgwatchOOMKill, and runs every shipped PromQL expression", async () => {
    const p = prom;
    if (p === null || mem === null || cpu === null || server === null) throw new Error("setup failed");
    const instance = `127.0.0.1:${server.port}`;
    const memCg = mem.cgroup;
    await waitFor("the cgwatch target to be up", 20_000, async () => {
      const r = await p.query('up{job="cgwatch"} == 1');
      return (r.data?.result.length ?? 0) > 0 ? true : null;
    });

    const burner = cpu.spawnInside(...cpuLoopArgs(6), 20_000);
    const hog = mem.spawnInside(...hogArgs(200), 30_000);
    const hogExit = await waitExit(hog);
    expect(hogExit.signal).toBe("SIGKILL"); // the kernel's OOM killer, not our timeout (which would come much later)

    const increase = `increase(cgwatch_memory_events_total{event="oom_kill",cgroup="${memCg}"}[1m]) >= 1`;
    const inc = await waitFor("increase(oom_kill) >= 1 in Prometheus", 20_000, async () => {
      const r = await p.query(increase);
      return (r.data?.result.length ?? 0) > 0 ? r : null;
    });
    expect(Number(inc.data?.result[0]?.value?.[1])).toBeGreaterThanOrEqual(1);

    const alert = await waitFor("CgwatchOOMKill firing", 20_000, async () => {
      const a = await p.alerts();
      return a.find((x) => x.labels["alertname"] === "CgwatchOOMKill" && x.labels["cgroup"] === memCg && x.state === "firing") ?? null;
    });
    expect(alert.labels["instance"]).toBe(instance);

    // Let the burner accumulate a few throttled periods across scrapes.
    await waitFor("throttled periods in Prometheus", 15_000, async () => {
      const r = await p.query(`rate(cgwatch_cpu_throttled_periods_total{cgroup="${cpu?.cgroup ?? ""}"}[10s]) > 0`);
      return (r.data?.result.length ?? 0) > 0 ? true : null;
    });
    await waitExit(burner);

    // Every dashboard variable lists our cgroups.
    for (const v of dashboardVariableQueries()) {
      const match = substituteGrafanaVars(v.match, { cgroup: ".*", instance, rateInterval: "30s", range: "5m" });
      const values = await p.labelValues(v.label, match);
      expect(values.length, v.where).toBeGreaterThan(0);
      if (v.label === "cgroup") expect(values, v.where).toEqual(expect.arrayContaining([memCg, cpu.cgroup]));
    }

    // Panels about memory/OOM must show the scratch memory cgroup; CPU
    // panels the scratch cpu cgroup; the rest (policies, PSI, io, pids, v2-only
    // settings) have no source in this scenario and must only run cleanly.
    const memoryPanels = new Set(["OOM kills in range", "OOM kills", "Memory usage / limit (top 10)", "Memory events by kind", "Memory usage and limits", "Memory events", "Under OOM and OOM killer", "Memory settings", "Watched cgroups", "Watchdog health"]);
    const cpuPanels = new Set(["CPU throttling ratio (top 10)", "CPU usage vs quota (cores)", "CPU throttling", "CPU settings"]);
    const failures: string[] = [];
    const queries = shippedQueries();
    expect(queries.length).toBeGreaterThan(30);
    for (const q of queries) {
      const title = q.panelTitle ?? "";
      const cgroup = cpuPanels.has(title) ? cpu.cgroup : memCg;
      const expr = substituteGrafanaVars(q.expr, { cgroup, instance, rateInterval: "30s", range: "5m" });
      const r = await p.query(expr);
      if (r.status !== "success") {
        failures.push(`${q.where}: ${r.error ?? "error"} in ${expr}`);
        continue;
      }
      // A panel is checked for data if at least one of its targets returns some.
      if (memoryPanels.has(title) || cpuPanels.has(title)) {
        if ((r.data?.result.length ?? 0) > 0) {
          memoryPanels.delete(title);
          cpuPanels.delete(title);
        }
      }
    }
    expect(failures).toEqual([]);
    expect([...memoryPanels, ...cpuPanels], "panels with no data for the scenario's cgroups").toEqual([]);
  }, 120_000);
});

if (promMissing !== null) {
  // Make the reason visible next to the real-kernel tier's own skip notice.
  process.stderr.write(`realOom.test.ts: ${promMissing}\n`);
}
