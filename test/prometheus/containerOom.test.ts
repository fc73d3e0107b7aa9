/**
 * The most common OOM of all, end to end: a podman container OOM-killed and
 * removed at once (`podman run --rm`), before Prometheus has scraped it even
 * once. cgwatch (the CLI, shipped config) keeps the removed cgroup's counters
 * and identity for metrics.retainRemoved, so a real Prometheus still fires
 * CgwatchOOMKill, and the alert names the container and its image.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildDist, startCgwatch, type Cgwatch } from "../helpers/cgwatchRun.js";
import { RUN_FLAGS, describeContainers, startEngine, type Engine } from "../helpers/podman.js";
import {
  dashboardVariableQueries,
  prometheusUnavailable,
  shippedQueries,
  startPrometheus,
  substituteGrafanaVars,
  waitFor,
  type RunningPrometheus,
} from "./harness.js";

const promMissing = prometheusUnavailable();

describeContainers("Prometheus: an OOM-killed and removed container still fires CgwatchOOMKill, by name", () => {
  let engine: Engine;
  let cgwatch: Cgwatch | undefined;
  let prom: RunningPrometheus | undefined;
  beforeAll(async () => {
    if (promMissing !== null) throw new Error(promMissing);
    buildDist();
    engine = await startEngine("promoom");
  }, 180_000);
  afterAll(async () => {
    await prom?.stop();
    await cgwatch?.stop().catch(() => undefined);
    await engine?.close();
  }, 120_000);

  it("podman run --rm --name web-1 -m 30m hog: gone before the first scrape, alerted with its name", async () => {
    const graphRoot = (await engine.podman(["info", "--format", "{{.Store.GraphRoot}}"])).stdout.trim();
    cgwatch = await startCgwatch({
      watch: [`${engine.parent}/*`],
      override: {
        identity: { roots: { podman: [graphRoot], docker: [], containerd: [], crio: [] }, kmsg: "/dev/kmsg" },
      },
    });
    const cg = cgwatch;
    const listening = cg.lines().find((l) => l.msg === "metrics listening")?.["url"];
    if (typeof listening !== "string") throw new Error("cgwatch logged no metrics URL");
    const url = listening;
    const target = new URL(url).host;
    const p = await startPrometheus([target]);
    prom = p;
    await waitFor(
      "the cgwatch target to be up",
      30_000,
      async () => ((await p.query('up{job="cgwatch"} == 1')).data?.result.length ?? 0) > 0 || null,
    );

    const run = await engine.podman(
      [
        "run",
        "--rm",
        "--name",
        "web-1",
        "--cgroup-parent",
        `/${engine.parent}`,
        ...RUN_FLAGS,
        "-m",
        "30m",
        engine.image,
        "/bin/hog",
        "100",
      ],
      60_000,
    );
    expect(run.code).toBe(137);
    // The container and its cgroup are gone now.
    expect((await engine.podman(["container", "exists", "web-1"])).code).not.toBe(0);
    const oom = await cg.waitLine((l) => l.msg === "oom_kill in web-1", "cgwatch's oom_kill line", 30_000);
    const cgroup = (oom["event"] as { cgroup: string }).cgroup;

    const alert = await waitFor("CgwatchOOMKill firing for web-1", 60_000, async () => {
      const a = await p.alerts();
      return (
        a.find(
          (x) => x.labels["alertname"] === "CgwatchOOMKill" && x.labels["name"] === "web-1" && x.state === "firing",
        ) ?? null
      );
    });
    expect(alert.labels).toMatchObject({
      cgroup,
      engine: "podman",
      image: engine.image,
      instance: target,
      event: "oom_kill",
    });
    expect(alert.annotations["summary"]).toBe(
      `OOM kill in web-1 (podman ${engine.image}), cgroup ${cgroup} on ${target}`,
    );
    // Grafana: the container-name dropdown lists web-1, and the OOM kills panel's legend names it.
    const nameVars = dashboardVariableQueries().filter((v) => v.label === "name");
    expect(nameVars.length).toBe(2);
    for (const v of nameVars) {
      expect(
        await p.labelValues(
          v.label,
          substituteGrafanaVars(v.match, { cgroup: ".*", instance: target, rateInterval: "30s", range: "5m" }),
        ),
        v.where,
      ).toContain("web-1");
    }
    const panel = shippedQueries().find((q) => q.panelTitle === "OOM kills");
    if (panel === undefined) throw new Error("no OOM kills panel");
    const series = await p.query(
      substituteGrafanaVars(panel.expr, { cgroup, instance: target, rateInterval: "30s", range: "5m", name: "web-1" }),
    );
    expect(series.data?.result.map((r) => r.metric["name"])).toEqual(["web-1"]);
    process.stdout.write(
      `containerOom.test: alert ${JSON.stringify(alert.labels)}\n  summary: ${alert.annotations["summary"] ?? ""}\n`,
    );
  }, 180_000);
});
