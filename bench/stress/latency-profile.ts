/**
 * What the daemon spends per event in the latency scenario itself (not a
 * model of it): a fake v2 tree of N cgroups, the bench's raise policy, the
 * metrics server on, the driver in its own process bumping oom_kill of a
 * random cgroup and timing until memory.max is written. Once the loop is
 * quiet after the first pass, one driver round runs under V8's CPU profiler
 * (or, with --no-profile, without it, to see the percentiles unperturbed).
 * Prints process CPU per event, the latency percentiles, and self/inclusive
 * time per function as µs per event.
 *   node dist/bench/stress/latency-profile.js [--n 10000] [--samples 600] [--top 30] [--idle ms] [--no-profile]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Session } from "node:inspector/promises";
import { v2LayoutAt } from "../../src/cgroup/layout.js";
import { buildTree, cpuMs, dist, sleep, startBenchDaemon } from "../common.js";
import type { DriverCommand } from "../driver.js";
import { ask, endChild, latencyYaml, RAISE_POLICY, startDriver, untilCpuQuiet, untilQuiet } from "../scenarios.js";
import { arg, isOwnFrame, largest, profileTimes, type Profile } from "./cpuProfile.js";

const N = arg("--n", 10000);
const SAMPLES = arg("--samples", 600);
const TOP = arg("--top", 30);
const PROFILE = !process.argv.includes("--no-profile");

const root = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "cgwatch-latprof-"));
const driver = startDriver();
try {
  buildTree(root, N);
  let applied = 0;
  const bd = await startBenchDaemon({
    layout: v2LayoutAt(root),
    yaml: latencyYaml("127.0.0.1:0"),
    policies: { "raise.js": RAISE_POLICY },
    serveMetrics: true,
    onAction: (_p, o) => (o.kind === "applied" ? applied++ : undefined),
  });
  try {
    await bd.daemon.ready;
    await untilQuiet(60_000);
    await untilCpuQuiet(60_000); // as the latency bench: the first pass's slices never stall the loop
    const cmd: DriverCommand = {
      cmd: "latency",
      root,
      n: N,
      samples: SAMPLES,
      warmup: 20,
      paceMinMs: 5,
      paceMaxMs: 10,
      timeoutMs: 2000,
    };
    // The daemon's own CPU without events, over as long a window: what the per-event figure must not be charged.
    // --idle 0: the round starts right after the quiet check, as the latency bench's does.
    const idleMs = arg("--idle", 3000);
    const i0 = cpuMs();
    await sleep(idleMs);
    const idlePerSecond = idleMs > 0 ? (cpuMs() - i0) / (idleMs / 1000) : 0;
    const session = new Session();
    if (PROFILE) {
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.setSamplingInterval", { interval: 100 });
      await session.post("Profiler.start");
    }
    const a0 = applied;
    const c0 = cpuMs();
    const t0 = performance.now();
    const r = await ask(driver, cmd, "latency");
    const cpu = cpuMs() - c0;
    const wall = performance.now() - t0;
    const events = applied - a0;
    const d = dist(r.latUs);
    process.stdout.write(
      `${N} cgroups, ${events} actions in ${wall.toFixed(0)} ms: process CPU ${cpu.toFixed(0)} ms = ${((cpu / events) * 1000).toFixed(0)} µs per event (idle ${idlePerSecond.toFixed(1)} ms/s: ${(((cpu - (idlePerSecond * wall) / 1000) / events) * 1000).toFixed(0)} µs per event net); ` +
        `latency p50 ${(d.p50 / 1000).toFixed(3)} p90 ${(d.p90 / 1000).toFixed(3)} p99 ${(d.p99 / 1000).toFixed(3)} ms, lost ${r.lost}; load ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(" ")}\n`,
    );
    if (PROFILE) {
      const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: Profile };
      report(profile, events);
    }
    await sleep(10);
  } finally {
    await bd.stop();
  }
} finally {
  await endChild(driver);
  fs.rmSync(root, { recursive: true, force: true });
}

function report(profile: Profile, events: number): void {
  const times = profileTimes(profile);
  const print = (title: string, m: Map<string, number>, filter?: (k: string) => boolean): void => {
    process.stdout.write(`${title}\n`);
    for (const [k, us] of largest(m, TOP, filter))
      process.stdout.write(`${(us / events).toFixed(1).padStart(8)} µs/event  ${k}\n`);
  };
  print("self time:", times.self);
  print("inclusive, cgwatch functions:", times.inclusive, isOwnFrame);
}
