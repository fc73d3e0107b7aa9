/**
 * Seed scenarios on real containers, the kernel signals other than OOM, with
 * cgwatch run as operators run it (shipped config; log level debug so that
 * every event has its line):
 *  - `--cpu-quota 20000 --cpu-period 100000` + a busy loop: `cpu_throttled`
 *    within one poll interval of the start, and throttle-burst answers;
 *  - `--pids-limit 20` + a fork loop: `pids_max`, counted as the kernel does;
 *  - `--memory-reservation` below usage: reservation breach both ways.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildDist, sample, startCgwatch, type Cgwatch, type LogLine } from "../helpers/cgwatchRun.js";
import { describeContainers, startEngine, type Engine } from "../helpers/podman.js";

const MB = 1024 * 1024;
const wall = (l: LogLine): number => Date.parse(String(l["time"]));
type Ev = { kind: string; cgroup: string } & Record<string, unknown>;
const ev = (l: LogLine): Ev | undefined => l["event"] as Ev | undefined;

describeContainers("throttling, pids and reservation signals of real containers", () => {
  let engine: Engine;
  let cgwatch: Cgwatch;
  beforeAll(async () => {
    buildDist();
    engine = await startEngine("signals");
    cgwatch = await startCgwatch({
      watch: [`${engine.parent}/*`],
      override: { log: { level: "debug", format: "json" } },
    });
  }, 180_000);
  afterAll(async () => {
    await cgwatch?.stop().catch(() => undefined);
    await engine?.close();
  }, 120_000);

  it("--cpu-quota 20000 --cpu-period 100000 + busy loop: cpu_throttled within one poll interval, throttle-burst raises the quota", async () => {
    const t0 = Date.now();
    const c = await engine.run({
      flags: ["--cpu-quota", "20000", "--cpu-period", "100000"],
      command: ["/bin/spin", "30"],
    });
    const first = await cgwatch.waitLine(
      (l) => l.msg === "cpu_throttled" && ev(l)?.cgroup === c.cgroup,
      "the first cpu_throttled",
      40_000,
    );
    const sinceStart = wall(first) - t0;
    const e = ev(first) as Ev & { ratio: number; throttledPeriods: { before: number; after: number } };
    expect(e.throttledPeriods.after).toBeGreaterThan(e.throttledPeriods.before);
    // 0.2 cores asked, one core burnt: most periods are throttled.
    expect(e.ratio).toBeGreaterThan(0);
    const burst = await cgwatch.waitLine(
      (l) => l.msg === "action decision" && l["cgroup"] === c.cgroup && l["policy"] === "throttle-burst",
      "throttle-burst's decision",
      40_000,
    );
    expect(burst["outcome"]).toBe("applied");
    expect(burst["action"]).toBe("set_cpu_quota");
    const quota = Number(c.read("cpu", "cpu.cfs_quota_us"));
    expect(quota).toBe(30000); // × factor 1.5, read back from the kernel
    const text = await cgwatch.scrape();
    expect(sample(text, "cgwatch_cpu_quota_seconds", { cgroup: c.cgroup })).toBeCloseTo(0.03, 9);
    process.stdout.write(
      `cpu: \`podman run\` started → first cpu_throttled ${sinceStart} ms, → throttle-burst applied ${wall(burst) - t0} ms\n`,
    );
    // pollInterval is 1 s; the container's start (podman, runc) is part of
    // the figure. The bound is far below the 30 s safety net that would
    // otherwise find the quota, and generous for a shared machine.
    expect(sinceStart).toBeLessThan(10_000);
    await c.remove();
  }, 90_000);

  it("--pids-limit 20 + a fork loop: pids_max events, counted as the kernel counts", async () => {
    const c = await engine.run({ flags: ["--pids-limit", "20"], command: ["/bin/forks", "40", "3"] });
    expect(await c.wait(60_000)).toBe(0);
    const out = await c.logs();
    const failed = Number(/failed=(\d+)/.exec(out)?.[1]);
    expect(failed).toBeGreaterThan(0);
    const lines = cgwatch.lines().filter((l) => l.msg === "pids_max" && ev(l)?.cgroup === c.cgroup);
    expect(lines.length).toBeGreaterThan(0);
    // Refused forks the kernel counted (pids.events max), all reported.
    const last = ev(lines.at(-1) as LogLine) as Ev & { counter: { after: number } };
    expect(last.counter.after).toBe(failed);
  }, 90_000);

  it("--memory-reservation 20m below a 40 MB usage: reservation_breach above, then below when the memory is freed", async () => {
    const c = await engine.run({
      flags: ["-m", "100m", "--memory-reservation", "20m"],
      command: ["/bin/sh", "-c", "/bin/hog 40 2000 2; sleep 5"],
    });
    expect(Number(c.read("memory", "memory.soft_limit_in_bytes"))).toBe(20 * MB);
    const breach = (above: boolean) => (l: LogLine) =>
      l.msg === "reservation_breach" && ev(l)?.cgroup === c.cgroup && ev(l)?.["above"] === above;
    const up = ev(await cgwatch.waitLine(breach(true), "reservation_breach above", 30_000)) as Ev & {
      usageBytes: number;
      reservationBytes: number;
    };
    expect(up.usageBytes).toBeGreaterThan(20 * MB);
    expect(up.reservationBytes).toBe(20 * MB);
    const down = ev(await cgwatch.waitLine(breach(false), "reservation_breach below", 30_000)) as Ev & {
      usageBytes: number;
    };
    expect(down.usageBytes).toBeLessThan(20 * MB);
    expect(await c.wait(30_000)).toBe(0);
  }, 90_000);
});
