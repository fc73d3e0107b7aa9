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

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg("--n", 10000);
const SECONDS = arg("--seconds", 30);
const TOP = arg("--top", 30);

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

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
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (f: ProfileNode["callFrame"]): string =>
    `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/(dist|node_modules)\//, "$1/")}:${f.lineNumber + 1}`;
  const isOwn = (n: ProfileNode): boolean => n.callFrame.url.includes("/dist/src/");
  const self = new Map<string, number>();
  const own = new Map<string, number>();
  /** Inclusive: every own function on the stack of a sample gets its time once. */
  const inclusive = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const n = byId.get(id);
    if (n === undefined) return;
    const here = name(n.callFrame);
    self.set(here, (self.get(here) ?? 0) + us);
    let cur: ProfileNode | undefined = n;
    let firstOwn: string | null = null;
    const seen = new Set<string>();
    while (cur !== undefined) {
      if (isOwn(cur)) {
        const k = name(cur.callFrame);
        firstOwn ??= k;
        if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + us);
        seen.add(k);
      }
      const p = parent.get(cur.id);
      cur = p === undefined ? undefined : byId.get(p);
    }
    const k = firstOwn ?? `${here} (no cgwatch frame)`;
    own.set(k, (own.get(k) ?? 0) + us);
  });
  const print = (title: string, m: Map<string, number>): void => {
    process.stdout.write(`${title}\n`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP))
      process.stdout.write(`${(us / 1000 / SECONDS).toFixed(2).padStart(8)} ms/s  ${k}\n`);
  };
  print("self time:", self);
  print("by nearest cgwatch function (its own time and the node/library calls it makes):", own);
  print("inclusive, cgwatch functions:", inclusive);
}
