/**
 * End to end against a real Prometheus: it scrapes cgwatch's metrics server
 * every second while a real cgroup v1 OOM kill happens in a scratch cgroup
 * (python hog past a 50M limit) and a real CFS-throttled burner runs in a
 * scratch cpu cgroup. Then: increase() of the oom_kill mirror is >= 1, the
 * CgwatchOOMKill alert fires, and every PromQL expression of every
 * dashboard panel and alert rule runs without error (with data where the
 * panel is about memory/cpu of these cgroups).
 *
 * cgwatch here is the real daemon (startDaemon through loadConfig, the
 * same path as `cgwatch run`): eventfd/poll sources, the tracker, a policy
 * that annotates each OOM kill (so the policy and action panels have data),
 * and its own /metrics server.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startHarness, type Harness } from "../helpers/daemonHarness.js";
import {
  cpuLoopArgs,
  createScratchCgroup,
  describeRealV1,
  hogArgs,
  waitExit,
  type ScratchCgroup,
} from "../helpers/realCgroup.js";
import {
  dashboardVariableQueries,
  prometheusUnavailable,
  shippedQueries,
  startPrometheus,
  substituteGrafanaVars,
  waitFor,
  type RunningPrometheus,
} from "./harness.js";

const ANNOTATE_OOM = `
export const meta = { name: "note-oom", on: ["oom_kill"], match: ["**"], cooldown: "0s" };
export function onEvent(event) { return [{ kind: "annotate", message: "oom kill seen", data: { kills: event.counter.after } }]; }
`;

const promMissing = prometheusUnavailable();

describeRealV1("Prometheus scrapes cgwatch through a real OOM kill", ["memory", "cpu", "cpuacct"], () => {
  let mem: ScratchCgroup | null = null;
  let cpu: ScratchCgroup | null = null;
  let harness: Harness | null = null;
  let prom: RunningPrometheus | null = null;

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
    harness = await startHarness({
      layout: mem.layout,
      serveMetrics: true,
      policies: { "note-oom.js": ANNOTATE_OOM },
      yaml: [
        `watch: [ ${JSON.stringify(mem.cgroup)}, ${JSON.stringify(cpu.cgroup)} ]`,
        'policies: { builtin: false, dirs: [ "$POLICY_DIR" ] }',
        "pollInterval: 250ms",
        "safetyNetInterval: 1s",
        "guardrails: { cooldown: 0s }",
        "metrics: { listen: 127.0.0.1:0 }",
        "",
      ].join("\n"),
    });
    expect(await harness.daemon.ready).toBe(2);
    const port = harness.daemon.metricsServer?.port;
    if (port === undefined) throw new Error("the daemon serves no metrics");
    prom = await startPrometheus([`127.0.0.1:${port}`]);
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    await harness?.stop();
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
    const port = harness?.daemon.metricsServer?.port;
    if (p === null || mem === null || cpu === null || port === undefined) throw new Error("setup failed");
    const instance = `127.0.0.1:${port}`;
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
      return (
        a.find(
          (x) => x.labels["alertname"] === "CgwatchOOMKill" && x.labels["cgroup"] === memCg && x.state === "firing",
        ) ?? null
      );
    });
    expect(alert.labels["instance"]).toBe(instance);
    // The daemon itself saw the kill, through the eventfd when the addon is built.
    expect(harness?.events.some((e) => e.kind === "oom_kill" && e.cgroup === memCg)).toBe(true);
    expect(harness?.actions.some((a) => a.proposal.policy === "note-oom" && a.outcome.kind === "applied")).toBe(true);

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
      // No container runs in this scenario: the container-name list is empty here (containerOom.test.ts checks it).
      if (v.label === "name") continue;
      expect(values.length, v.where).toBeGreaterThan(0);
      if (v.label === "cgroup") expect(values, v.where).toEqual(expect.arrayContaining([memCg, cpu.cgroup]));
    }

    // Panels about memory/OOM must show the scratch memory cgroup; CPU
    // panels the scratch cpu cgroup; the rest (policies, PSI, io, pids, v2-only
    // settings) have no source in this scenario and must only run cleanly.
    const memoryPanels = new Set([
      "OOM kills in range",
      "OOM kills",
      "Memory usage / limit (top 10)",
      "Memory events by kind",
      "Memory usage and limits",
      "Memory events",
      "Under OOM and OOM killer",
      "Memory settings",
      "Watched cgroups",
      "Watchdog up and notifier fallbacks",
    ]);
    // (Titles as the dashboards name them since each panel has one unit.)
    const cpuPanels = new Set([
      "CPU throttling ratio (top 10)",
      "CPU usage vs quota (cores)",
      "CPU throttling (share of periods)",
      "Throttled time per second",
      "CPU shares, weight and cpuset CPUs",
      "CFS period, quota and burst",
    ]);
    const failures: string[] = [];
    const queries = shippedQueries();
    expect(queries.length).toBeGreaterThan(30);
    // A renamed or split panel must be renamed here too, or its title would stay in the no-data list for ever.
    const titles = new Set(queries.map((q) => q.panelTitle));
    expect(
      [...memoryPanels, ...cpuPanels].filter((t) => !titles.has(t)),
      "panel titles that no shipped dashboard has",
    ).toEqual([]);
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
