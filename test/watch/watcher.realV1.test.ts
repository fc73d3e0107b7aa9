/**
 * The watch pipeline on the host's real cgroup v1 kernel: a real OOM kill, a
 * real throttled CPU loop, real mkdir/rmdir. Scratch cgroups live under the
 * test process's own cgroup and are removed even when an assertion fails.
 */
import fs from "node:fs";
import { afterEach, expect, it } from "vitest";
import { parseCpuStat, type CpuStat } from "../../src/cgroup/parse.js";
import { createFileReader } from "../../src/cgroup/read.js";
import type { CpuThrottledEvent, WatchdogEvent } from "../../src/events/types.js";
import { createWatcher } from "../../src/watch/watcher.js";
import { collect, sleep } from "../helpers/collect.js";
import { until } from "../helpers/daemonHarness.js";
import {
  cpuLoopArgs,
  createScratchCgroup,
  describeRealV1,
  hogArgs,
  waitExit,
  type ScratchCgroup,
} from "../helpers/realCgroup.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function watch(scratch: ScratchCgroup, patterns: string[], pollIntervalMs: number, safetyNetIntervalMs = 1000) {
  const reader = createFileReader();
  const watcher = createWatcher({
    layout: scratch.layout,
    reader,
    patterns,
    pollIntervalMs,
    safetyNetIntervalMs,
    persistent: false,
    native: null,
  });
  const c = collect(watcher.events$);
  cleanups.push(() => {
    c.sub.unsubscribe();
    reader.close();
  });
  return { watcher, c };
}

describeRealV1("watch pipeline", ["memory", "cpu", "cpuacct"], () => {
  it("a memory hog past a 50M limit produces an oom_kill event (polled path)", async () => {
    const scratch = createScratchCgroup(["memory"], "oom");
    cleanups.push(() => scratch.remove());
    scratch.write("memory", "memory.limit_in_bytes", String(50 * 1024 * 1024));
    const { watcher, c } = watch(scratch, [scratch.cgroup], 50);
    expect(await watcher.ready).toBe(1);
    const [cmd, args] = hogArgs(200, 1);
    const hog = scratch.spawnInside(cmd, args, 30_000);
    const got = await c.until((vs) => vs.some((e) => e.kind === "oom_kill"));
    const exit = await waitExit(hog);
    expect(exit.signal).toBe("SIGKILL");
    const kill = got.find((e) => e.kind === "oom_kill");
    expect(kill).toMatchObject({ cgroup: scratch.cgroup, source: "poll", counter: { before: 0 } });
    // The event's counter is what the kernel says.
    const oomKill = Number(/oom_kill (\d+)/.exec(scratch.read("memory", "memory.oom_control"))?.[1]);
    expect(kill?.kind === "oom_kill" ? kill.counter.after : -1).toBeLessThanOrEqual(oomKill);
    expect(oomKill).toBeGreaterThanOrEqual(1);
    // Hitting the limit also counted failcnt → memory_max.
    expect(got.some((e) => e.kind === "memory_max")).toBe(true);
  });

  it("a CPU loop under a 20% quota produces cpu_throttled events whose throttled time adds up to cpu.stat", async () => {
    const scratch = createScratchCgroup(["cpu", "cpuacct"], "cpu");
    cleanups.push(() => scratch.remove());
    scratch.write("cpu", "cpu.cfs_period_us", "100000");
    scratch.write("cpu", "cpu.cfs_quota_us", "20000");
    const { watcher, c } = watch(scratch, [scratch.cgroup], 200);
    await watcher.ready;
    expect(watcher.trackers.get(scratch.cgroup)?.hasCpuQuota()).toBe(true);
    const [cmd, args] = cpuLoopArgs(1.5);
    const loop = scratch.spawnInside(cmd, args, 20_000);
    await waitExit(loop);
    // The loop is gone, but the kernel may still account its last throttled
    // period when the period timer fires: wait until a poll has emitted what
    // cpu.stat says now (re-read each time, a condition, not a guess at timing).
    const throttledEvents = (): CpuThrottledEvent[] =>
      c.values.filter((e: WatchdogEvent): e is CpuThrottledEvent => e.kind === "cpu_throttled");
    const kernelNow = (): CpuStat => {
      const r = parseCpuStat(scratch.read("cpu", "cpu.stat"));
      if (r.kind !== "ok") throw new Error(`cpu.stat did not parse: ${JSON.stringify(r)}`);
      return r.value;
    };
    await until(
      () => throttledEvents().at(-1)?.throttledPeriods.after === kernelNow().throttledPeriods,
      20_000,
      "the last throttled periods to be polled",
    );
    const final = { value: kernelNow() };
    const throttled = throttledEvents();
    expect(throttled.length).toBeGreaterThan(1);
    for (const e of throttled) {
      expect(e.ratio).toBeGreaterThan(0);
      expect(e.ratio).toBeLessThanOrEqual(1);
      expect(e.intervalSeconds).toBeGreaterThan(0);
    }
    // Deltas chain without gaps or overlaps and sum to the kernel's total.
    for (let i = 1; i < throttled.length; i++) {
      expect(throttled[i]?.throttledSeconds.before).toBe(throttled[i - 1]?.throttledSeconds.after);
    }
    const sum = throttled.reduce((s, e) => s + (e.throttledSeconds.after - e.throttledSeconds.before), 0);
    expect(sum).toBeCloseTo(final.value.throttledSeconds, 6);
    expect(throttled.at(-1)?.throttledPeriods.after).toBe(final.value.throttledPeriods);
  });

  it("a quota written after the cgroup was created (as runc does) is found: cpu_throttled within a poll interval, long before the safety net", async () => {
    const scratch = createScratchCgroup(["cpu", "cpuacct"], "late");
    cleanups.push(() => scratch.remove());
    // The safety net (which also re-reads quotas) is pushed out of the test's time.
    const { watcher, c } = watch(scratch, [`${scratch.cgroup}/*`], 500, 600_000);
    expect(await watcher.ready).toBe(0);
    const kid = scratch.child("ctr");
    await c.until((vs) => vs.some((e) => e.kind === "cgroup_added" && e.cgroup === kid.cgroup));
    expect(watcher.trackers.get(kid.cgroup)?.hasCpuQuota()).toBe(false);
    await sleep(200);
    kid.write("cpu", "cpu.cfs_period_us", "100000");
    kid.write("cpu", "cpu.cfs_quota_us", "20000");
    const loop = kid.spawnInside(...cpuLoopArgs(3), 20_000);
    const got = await c.until((vs) => vs.some((e) => e.kind === "cpu_throttled" && e.cgroup === kid.cgroup), 8000);
    expect(watcher.trackers.get(kid.cgroup)?.hasCpuQuota()).toBe(true);
    expect(got.find((e) => e.kind === "cpu_throttled")).toMatchObject({ cgroup: kid.cgroup, source: "poll" });
    loop.kill("SIGKILL");
    await waitExit(loop);
  });

  it("cgroup mkdir and rmdir are discovered", async () => {
    const scratch = createScratchCgroup(["memory"], "disc");
    cleanups.push(() => scratch.remove());
    const { watcher, c } = watch(scratch, [`${scratch.cgroup}/*`], 0);
    expect(await watcher.ready).toBe(0);
    const child = `${scratch.cgroup}/kid`;
    fs.mkdirSync(scratch.dir("memory") + "/kid");
    await c.until((vs) => vs.some((e) => e.kind === "cgroup_added" && e.cgroup === child));
    expect(watcher.trackers.get(child)?.memoryVersion).toBe(1);
    fs.rmdirSync(scratch.dir("memory") + "/kid");
    await c.until((vs) => vs.some((e) => e.kind === "cgroup_removed" && e.cgroup === child));
    expect(watcher.trackers.has(child)).toBe(false);
  });
});
