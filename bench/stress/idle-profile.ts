/**
 * What the daemon spends its idle CPU on: the startup scenario's daemon
 * (shipped policies, default intervals, PSI off on a fake v2 tree of N
 * cgroups), and once the first publisher pass is over, V8's CPU profiler
 * over an idle window with nothing changing. Prints self time per function
 * and time per cgwatch function (its own and that of the node/library
 * calls it makes), as ms per second of idle window.
 *   node dist/bench/stress/idle-profile.js [--n 10000] [--seconds 30] [--top 30]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Session } from "node:inspector/promises";
import { v2LayoutAt } from "../../src/cgroup/layout.js";
import { buildTree, cpuMs, sleep, startBenchDaemon, WATCH_PATTERN } from "../common.js";
import { untilQuiet } from "../scenarios.js";
import { arg, isOwnFrame, largest, profileTimes, type Profile } from "./cpuProfile.js";

const N = arg("--n", 10000);
const SECONDS = arg("--seconds", 30);
const TOP = arg("--top", 30);

const root = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "cgwatch-idle-"));
try {
  buildTree(root, N);
  const bd = await startBenchDaemon({
    layout: v2LayoutAt(root),
    yaml: `watch: [ "${WATCH_PATTERN}" ]\npsi: { memory: "off", cpu: "off", io: "off" }\n`,
  });
  try {
    await bd.daemon.ready;
    await untilQuiet(60_000);
    const session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 1000 });
    await session.post("Profiler.start");
    const c0 = cpuMs();
    await sleep(SECONDS * 1000);
    const cpu = cpuMs() - c0;
    const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: Profile };
    process.stdout.write(
      `${N} cgroups, ${SECONDS} s idle: process CPU ${cpu.toFixed(0)} ms (${((cpu / SECONDS / 1000) * 100).toFixed(2)} % of a core)\n`,
    );
    report(profile);
  } finally {
    await bd.stop();
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}

function report(profile: Profile): void {
  const times = profileTimes(profile);
  const print = (title: string, m: Map<string, number>, filter?: (k: string) => boolean): void => {
    process.stdout.write(`${title}\n`);
    for (const [k, us] of largest(m, TOP, filter))
      process.stdout.write(`${(us / 1000 / SECONDS).toFixed(2).padStart(8)} ms/s  ${k}\n`);
  };
  print("self time:", times.self);
  print("by nearest cgwatch function (its own time and the node/library calls it makes):", times.nearestOwn);
  print("inclusive, cgwatch functions:", times.inclusive, isOwnFrame);
}
