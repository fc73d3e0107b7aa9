/**
 * `cgwatch demo`: cgwatch working on this machine in about a minute. It
 * creates scratch cgroups under cgwatch's own, runs the real daemon with
 * the shipped policies against them, and shows
 *  1. a memory hog stalled by `oom_kill_disable` under a 50M limit, rescued
 *     by `oom-rescue` raising the limit, finishing normally;
 *  2. a CPU loop throttled by a 20% quota, given more quota by `throttle-burst`;
 * then prints the relevant metrics and removes everything it created.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { readOwnCgroups } from "./actions/selfProtection.js";
import { detectLayout } from "./cgroup/detect.js";
import {
  locateController,
  type CgroupLayout,
  type CgroupVersion,
  type Controller,
  type ControllerLocation,
} from "./cgroup/layout.js";
import { parseProcCgroup } from "./cgroup/paths.js";
import { loadConfig } from "./config/load.js";
import { startDaemon, hostMemoryBytes, type Daemon } from "./daemon.js";
import type { WatchdogEvent } from "./events/types.js";
import { loadNative } from "./native/index.js";

export interface DemoOptions {
  readonly keepGoing: boolean;
  readonly out?: (line: string) => void;
  /** Seconds the CPU loop runs. */
  readonly cpuSeconds?: number;
}

interface Scratch {
  readonly cgroup: string;
  readonly dirs: Map<Controller, string>;
}

function ownPathFor(layout: CgroupLayout, controller: Controller): string {
  const own = parseProcCgroup(fs.readFileSync("/proc/self/cgroup", "utf8"));
  const loc = locateController(layout, controller);
  if (loc === null) throw new Error(`no cgroup hierarchy carries the ${controller} controller here`);
  return loc.version === 1 ? (own.v1.get(controller) ?? "") : (own.v2 ?? "");
}

function makeScratch(layout: CgroupLayout, controllers: readonly Controller[], name: string): Scratch {
  const bases = new Set(controllers.map((c) => ownPathFor(layout, c)));
  if (bases.size !== 1) throw new Error(`controllers ${controllers.join(",")} sit in different own cgroups`);
  const cgroup = path.posix.join([...bases][0] ?? "", name);
  const dirs = new Map<Controller, string>();
  for (const c of controllers) {
    const loc = locateController(layout, c);
    if (loc === null) continue;
    const dir = path.join(loc.root, cgroup);
    fs.mkdirSync(dir, { recursive: false });
    dirs.set(c, dir);
  }
  return { cgroup, dirs };
}

function spawnIn(dirs: readonly string[], cmd: string, args: readonly string[], timeoutMs: number): ChildProcess {
  const joins = [...new Set(dirs)].map((d) => `echo $$ > ${d}/cgroup.procs`).join(" && ");
  return spawn("/bin/sh", ["-c", `${joins} && exec "$0" "$@"`, cmd, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
}

const exited = (c: ChildProcess): Promise<{ code: number | null; signal: string | null }> =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve({ code: c.exitCode, signal: c.signalCode })
    : new Promise((r) => c.once("exit", (code, signal) => r({ code, signal })));

async function removeDir(dir: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function describe(e: WatchdogEvent): string {
  switch (e.kind) {
    case "under_oom":
      return e.underOom
        ? `under_oom: tasks stalled at the limit (oom_kill_disable=${e.oomKillDisable ? 1 : 0})`
        : "under_oom cleared: tasks running again";
    case "cpu_throttled":
      return `cpu_throttled: ${(e.ratio * 100).toFixed(0)}% of periods throttled, ${(e.throttledSeconds.after - e.throttledSeconds.before).toFixed(2)}s stalled`;
    case "oom_kill":
    case "memory_max":
    case "memory_high":
    case "oom":
      return `${e.kind}: ${e.counter.before} → ${e.counter.after}`;
    default:
      return e.kind;
  }
}

/** What a demo run holds and must release, and how it speaks. */
interface DemoRun {
  readonly layout: CgroupLayout;
  readonly out: (line: string) => void;
  /** Seconds since the start, for each line. */
  readonly stamp: () => string;
  readonly scratches: Scratch[];
  readonly children: ChildProcess[];
  readonly tmp: string;
  daemonStop: (() => Promise<void>) | null;
}

const DEMO_LIMIT = 50 * 1024 * 1024;

/** The two scratch cgroups under cgwatch's own: a 50M memory limit (v1: with oom_kill_disable) and a 20% CPU quota. */
function createScratches(
  run: DemoRun,
  memLoc: ControllerLocation,
  cpuLoc: ControllerLocation,
): { mem: Scratch; cpu: Scratch; cpuDir: string } {
  const { layout } = run;
  const memControllers: Controller[] = memLoc.version === 1 ? ["memory"] : ["memory", "cpu", "pids"];
  const mem = makeScratch(layout, memControllers, `cgwatch-demo-${process.pid}-mem`);
  run.scratches.push(mem);
  const cpuControllers: Controller[] = cpuLoc.version === 1 ? ["cpu", "cpuacct"] : ["memory", "cpu", "pids"];
  const cpu = makeScratch(
    layout,
    cpuControllers.filter((c) => locateController(layout, c) !== null),
    `cgwatch-demo-${process.pid}-cpu`,
  );
  run.scratches.push(cpu);
  const memDir = mem.dirs.get("memory") ?? "";
  const cpuDir = cpu.dirs.get("cpu") ?? "";
  if (memLoc.version === 1) {
    fs.writeFileSync(path.join(memDir, "memory.limit_in_bytes"), String(DEMO_LIMIT));
    fs.writeFileSync(path.join(memDir, "memory.oom_control"), "1");
    fs.writeFileSync(path.join(cpuDir, "cpu.cfs_period_us"), "100000");
    fs.writeFileSync(path.join(cpuDir, "cpu.cfs_quota_us"), "20000");
  } else {
    fs.writeFileSync(path.join(memDir, "memory.max"), String(DEMO_LIMIT));
    fs.writeFileSync(path.join(memDir, "memory.swap.max"), "0");
    fs.writeFileSync(path.join(cpuDir, "cpu.max"), "20000 100000");
  }
  run.out(
    `${run.stamp()} created ${mem.cgroup} (memory limit 50M${memLoc.version === 1 ? ", oom_kill_disable 1" : ""}) and ${cpu.cgroup} (cpu quota 20%)`,
  );
  return { mem, cpu, cpuDir };
}

/** The real daemon with the shipped policies, watching the two scratch cgroups only; each event and action is printed. */
async function startDemoDaemon(run: DemoRun, mem: Scratch, cpu: Scratch): Promise<Daemon> {
  const { out, stamp } = run;
  const yaml = [
    `watch: [ ${JSON.stringify(mem.cgroup)}, ${JSON.stringify(cpu.cgroup)} ]`,
    "policies:",
    "  params:",
    '    oom-rescue: { stepPercent: 100, stepBytes: "100m", ceilingBytes: "400m", nearRatio: 0.8 }',
    "pollInterval: 250ms",
    "safetyNetInterval: 2s",
    "guardrails: { cooldown: 1s }",
    'psi: { memory: "off" }',
    "metrics: { listen: 127.0.0.1:0 }",
    "log: { level: warn }",
  ].join("\n");
  const configFile = path.join(run.tmp, "demo.yaml");
  fs.writeFileSync(configFile, `${yaml}\n`);
  const loaded = loadConfig({ path: configFile, env: {} });
  if (loaded.kind === "error")
    throw new Error(`demo config rejected: ${loaded.errors.map((e) => `${e.key}: ${e.message}`).join("; ")}`);
  const daemon = await startDaemon({
    config: loaded.config,
    logger: pino({ level: "silent" }),
    layout: run.layout,
    procRoot: "/proc",
    native: loadNative(),
    hostMemoryBytes: hostMemoryBytes("/proc"),
    ownCgroups: readOwnCgroups("/proc"),
    persistent: true,
    protectSelf: false,
    onEvent: (e) => {
      if (e.kind !== "sample" && e.kind !== "cgroup_added" && e.kind !== "cgroup_removed")
        out(`${stamp()} event  ${e.cgroup.split("/").pop() ?? ""} ${describe(e)} [via ${e.source}]`);
    },
    onAction: (p, o) =>
      out(
        `${stamp()} action ${p.policy}: ${JSON.stringify(p.action)} → ${o.kind}${o.kind === "applied" ? ` (${o.before ?? "?"} → ${o.after ?? "?"})` : o.kind === "rejected" || o.kind === "failed" ? `: ${o.reason}` : ""}`,
      ),
  });
  run.daemonStop = () => daemon.stop();
  return daemon;
}

/** 1. Memory: an 80 MB allocation under a 50 MB limit; true if it finished (rescued) instead of being OOM-killed. */
async function memoryAct(run: DemoRun, mem: Scratch): Promise<boolean> {
  run.out(`${run.stamp()} starting a python process that allocates 80 MB in the 50M cgroup...`);
  const hog = spawnIn(
    [...mem.dirs.values()],
    "python3",
    [
      "-c",
      "import time\na=[]\nfor i in range(80):\n    a.append(bytearray(1<<20)); time.sleep(0.01)\nprint('allocated 80 MB', flush=True)",
    ],
    60_000,
  );
  run.children.push(hog);
  let hogOut = "";
  hog.stdout?.on("data", (d: Buffer) => (hogOut += d.toString()));
  const hogExit = await exited(hog);
  const survived = hogExit.code === 0 && hogOut.includes("allocated 80 MB");
  run.out(
    `${run.stamp()} memory hog ${survived ? "finished normally: rescued instead of OOM-killed" : `ended with ${hogExit.signal ?? `exit ${hogExit.code ?? "?"}`}`}`,
  );
  return survived;
}

/** 2. CPU: a busy loop under a 20% quota; true if throttle-burst raised the quota. */
async function cpuAct(
  run: DemoRun,
  cpu: Scratch,
  cpuDir: string,
  version: CgroupVersion,
  secs: number,
): Promise<boolean> {
  run.out(`${run.stamp()} starting a ${secs}s busy loop in the 20%-quota cgroup...`);
  const loop = spawnIn(
    [...cpu.dirs.values()],
    "python3",
    ["-c", `import time\nend=time.time()+${secs}\nwhile time.time()<end: pass`],
    (secs + 30) * 1000,
  );
  run.children.push(loop);
  await exited(loop);
  const quotaFile = version === 1 ? path.join(cpuDir, "cpu.cfs_quota_us") : path.join(cpuDir, "cpu.max");
  const quota = fs.readFileSync(quotaFile, "utf8").trim();
  const burst = quota !== "20000" && !quota.startsWith("20000 ");
  run.out(`${run.stamp()} cpu quota is now ${quota} (${burst ? "raised by throttle-burst" : "unchanged"})`);
  return burst;
}

/** The scratch cgroups' series and the action counters, as a scrape shows them. */
async function printMetrics(run: DemoRun, daemon: Daemon): Promise<void> {
  await daemon.metrics.render();
  const text = await daemon.metrics.render();
  run.out("\nrelevant metrics:");
  for (const line of text.split("\n")) {
    if (
      !line.startsWith("#") &&
      run.scratches.some((s) => line.includes(`cgroup="${s.cgroup}"`)) &&
      /cgwatch_(under_oom|memory_events_total|memory_limit_bytes|cpu_throttled_periods_total|cpu_quota_cores)\{/.test(
        line,
      )
    )
      run.out(`  ${line}`);
    else if (/^cgwatch_actions_total\{/.test(line)) run.out(`  ${line}`);
  }
}

/** Ends the children, stops the daemon, removes the scratch cgroups (v1: oom_kill_disable off first) and the temp dir. */
async function cleanUp(run: DemoRun): Promise<void> {
  for (const c of run.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await Promise.all(run.children.map(exited));
  if (run.daemonStop !== null) await run.daemonStop();
  for (const s of run.scratches.reverse()) {
    for (const [c, d] of s.dirs) {
      if (c === "memory" && fs.existsSync(path.join(d, "memory.oom_control"))) {
        try {
          fs.writeFileSync(path.join(d, "memory.oom_control"), "0");
        } catch {
          /* already gone */
        }
      }
      await removeDir(d);
    }
  }
  fs.rmSync(run.tmp, { recursive: true, force: true });
  run.out(`${run.stamp()} cleaned up: scratch cgroups removed, processes ended`);
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const out = options.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  if (process.getuid?.() !== 0) {
    out("cgwatch demo needs root: it creates cgroups and writes their limits.");
    return 77;
  }
  const layout = detectLayout({ kind: "auto" });
  const memLoc = locateController(layout, "memory");
  const cpuLoc = locateController(layout, "cpu");
  if (memLoc === null || cpuLoc === null) {
    out("cgwatch demo needs the memory and cpu controllers mounted.");
    return 77;
  }
  const t0 = performance.now();
  const stamp = (): string => `${((performance.now() - t0) / 1000).toFixed(2).padStart(6)}s`;
  const run: DemoRun = {
    layout,
    out,
    stamp,
    scratches: [],
    children: [],
    tmp: fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-demo-")),
    daemonStop: null,
  };
  let ok = true;
  try {
    const { mem, cpu, cpuDir } = createScratches(run, memLoc, cpuLoc);
    const daemon = await startDemoDaemon(run, mem, cpu);
    const n = await daemon.ready;
    out(`${stamp()} cgwatch watching ${n} cgroups; metrics at ${daemon.metricsServer?.url ?? "(none)"}/metrics`);
    ok = await memoryAct(run, mem);
    // (not `ok &&= await cpuAct(...)`: with --keep-going the CPU act runs after a failed memory act)
    if (ok || options.keepGoing) {
      const burst = await cpuAct(run, cpu, cpuDir, cpuLoc.version, options.cpuSeconds ?? 6);
      ok &&= burst;
    }
    await printMetrics(run, daemon);
  } catch (err) {
    out(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    ok = false;
  } finally {
    await cleanUp(run);
  }
  return ok ? 0 : 1;
}
