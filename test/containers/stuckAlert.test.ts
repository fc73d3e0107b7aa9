/**
 * CgwatchCgroupStuckUnderOOM on a real stall: a container with
 * `-m 50m --oom-kill-disable` and a hog that needs more, cgwatch with the
 * shipped config except oom-rescue's ceiling lowered to 60 MB, so the rescue
 * reaches the ceiling and the container stays stalled. cgwatch must say so
 * (an explicit outcome: the log line and the stall-outcome metric), and a
 * real Prometheus scraping it with the SHIPPED alert rules must fire the
 * alert for that container's cgroup (`for: 1m`, so this takes a minute; it
 * runs beside the other container files).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  prometheusUnavailable,
  startPrometheus,
  waitFor,
  type PromAlert,
  type RunningPrometheus,
} from "../prometheus/harness.js";
import { buildDist, sample, startCgwatch, type Cgwatch } from "../helpers/cgwatchRun.js";
import { describeContainers, startEngine, type Engine } from "../helpers/podman.js";

describeContainers("CgwatchCgroupStuckUnderOOM fires on a real container stalled under OOM", () => {
  let engine: Engine;
  let cgwatch: Cgwatch | undefined;
  let prom: RunningPrometheus | undefined;
  beforeAll(async () => {
    const missing = prometheusUnavailable();
    if (missing !== null) throw new Error(missing);
    buildDist();
    engine = await startEngine("stuck");
  }, 180_000);
  afterAll(async () => {
    await prom?.stop();
    await cgwatch?.stop().catch(() => undefined);
    await engine?.close();
  }, 120_000);

  it("a rescue held at its ceiling: 'not rescued' outcome, cgwatch_under_oom 1, the alert fires for the container", async () => {
    cgwatch = await startCgwatch({
      watch: [`${engine.parent}/*`],
      override: { policies: { builtin: true, params: { "oom-rescue": { ceilingBytes: "60m" } } } },
    });
    const cg = cgwatch;
    prom = await startPrometheus([cg.target]);
    const c = await engine.run({ flags: ["-m", "50m", "--oom-kill-disable"], command: ["/bin/hog", "200"] });
    const notRescued = await cg.waitLine(
      (l) => l.msg?.startsWith("under_oom stall not rescued") === true && l["cgroup"] === c.cgroup,
      "the not-rescued outcome",
      30_000,
    );
    expect(notRescued["outcome"]).toBeDefined();
    // The line can come from the stall at 50M whose rescue raised the limit to the 60M ceiling: the hog then
    // runs on for a moment (under_oom 0) until it stalls again at the ceiling, for good.
    await expect
      .poll(() => c.read("memory", "memory.oom_control"), { timeout: 30_000, interval: 100 })
      .toMatch(/under_oom 1/);
    expect(Number(c.read("memory", "memory.limit_in_bytes"))).toBeLessThanOrEqual(60 * 1024 * 1024);
    await expect
      .poll(async () => sample(await cg.scrape(), "cgwatch_under_oom", { cgroup: c.cgroup }), {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(1);
    const t0 = Date.now();
    const firing = await waitFor("CgwatchCgroupStuckUnderOOM firing", 120_000, async () => {
      const alerts: PromAlert[] = await prom!.alerts();
      return (
        alerts.find(
          (a) =>
            a.labels["alertname"] === "CgwatchCgroupStuckUnderOOM" &&
            a.labels["cgroup"] === c.cgroup &&
            a.state === "firing",
        ) ?? null
      );
    });
    expect(firing.labels["severity"]).toBe("critical");
    process.stdout.write(`stuck alert: firing ${Date.now() - t0} ms after the stall was reported (rule: for 1m)\n`);
    await c.remove();
  }, 200_000);
});
