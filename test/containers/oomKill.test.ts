/**
 * Seed scenario: `docker run -m 30m` with a program that needs more. The
 * kernel OOM-kills it; cgwatch (run as operators run it, shipped config,
 * watching the containers' parent) reports one `oom_kill` per kill, and its
 * counts equal the kernel's memory.oom_control oom_kill.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildDist, sample, startCgwatch, type Cgwatch } from "../helpers/cgwatchRun.js";
import { describeContainers, startEngine, type Engine } from "../helpers/podman.js";

describeContainers("-m 30m + a bigger hog: one oom_kill per kill, counts equal the kernel's", () => {
  let engine: Engine;
  let cgwatch: Cgwatch | undefined;
  beforeAll(async () => {
    buildDist();
    engine = await startEngine("oomkill");
  }, 180_000);
  afterAll(async () => {
    await cgwatch?.stop().catch(() => undefined);
    await engine?.close();
  }, 120_000);

  it("a shell that runs the hog three times: three OOM kills, three oom_kill events, the metric equals the kernel's counter", async () => {
    cgwatch = await startCgwatch({ watch: [`${engine.parent}/*`] });
    // The shell survives (its own pages are tiny; the kernel picks the hog),
    // so one cgroup sees three kills, then the container exits 0.
    const c = await engine.run({
      flags: ["-m", "30m"],
      command: ["/bin/sh", "-c", "for i in 1 2 3; do /bin/hog 100; echo rc=$?; sleep 0.3; done; sleep 2"],
    });
    const cg = cgwatch;
    await cg.waitLine(
      (l) => l.msg === `oom_kill in ${c.cgroup}` && (l["event"] as { counter: { after: number } }).counter.after >= 3,
      "the third oom_kill event",
      60_000,
    );
    const kernel = /oom_kill (\d+)/.exec(c.read("memory", "memory.oom_control"))?.[1];
    expect(kernel).toBe("3");
    const kills = cg
      .lines()
      .filter((l) => l.msg === `oom_kill in ${c.cgroup}`)
      .map((l) => (l["event"] as { counter: { before: number; after: number } }).counter);
    // One event per kill: 0→1, 1→2, 2→3 (never a merged 0→2, never a repeat).
    expect(kills).toEqual([
      { before: 0, after: 1 },
      { before: 1, after: 2 },
      { before: 2, after: 3 },
    ]);
    // The metric mirrors the kernel's counter (scraped while the container
    // still exists). A counter of a cgroup born while watched is shown as 0 on
    // its first scrape, so that Prometheus' increase() sees the 0 → 3 step.
    await cg.scrape();
    const text = await cg.scrape();
    expect(sample(text, "cgwatch_memory_events_total", { cgroup: c.cgroup, event: "oom_kill" })).toBe(3);
    expect(await c.wait(30_000)).toBe(0);
    expect(await c.logs()).toMatch(/rc=137\s+rc=137\s+rc=137/);
  }, 120_000);
});
