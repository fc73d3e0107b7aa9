/**
 * CPU per event against two floors, same tree, same run: the driver bumps a
 * random `memory.events` counter of cgroup after cgroup at a fixed rate (one
 * pwrite each, below the watcher's wake-storm threshold) while one responder
 * listens; the responders, one after the other:
 * - **minimal**: a listener written in the bench (bench/floorListener.ts):
 *   re-read and diff memory.events, count only;
 * - **echo**: fs.watch → writeFileSync memory.max (the latency floor);
 * - **cgwatch**: the daemon with no policy (the same work as the minimal
 *   listener, as the daemon does it: tracker, events, metrics, logs), its
 *   30 s safety-net and publisher passes pushed out of the window (their
 *   cost is the startup scenario's idle figure; one falling in the idle or
 *   the storm window would swamp the per-event figure).
 * Process CPU (user + system, which does not depend on how busy the
 * machine is) over the storm, less the responder's own idle rate measured
 * just before over a window of the same length, per million counter
 * increments written; and each process's RSS after the storm.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { v2LayoutAt } from "../src/cgroup/layout.js";
import type { WatchdogEvent } from "../src/events/types.js";
import { cpuMs, sleep, startBenchDaemon, WATCH_PATTERN } from "./common.js";
import type { DriverCommand, DriverReply } from "./driver.js";
import type { FloorCommand, FloorMode, FloorReply } from "./floorListener.js";
import { untilQuiet } from "./scenarios.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface FloorResponder {
  /** CPU ms over the idle window before the storm. */
  readonly idleCpuMs: number;
  /** CPU ms from the storm's start until every increment was counted (or the bound). */
  readonly stormCpuMs: number;
  readonly stormSeconds: number;
  /** Counter increments the driver wrote during this responder's storm, and those the responder saw. */
  readonly writes: number;
  readonly counted: number;
  /** (storm CPU − idle rate × storm time) per million increments written, CPU-seconds. */
  readonly cpuSecondsPerMillion: number;
  readonly rssMb: number;
}

export interface FloorRun {
  readonly n: number;
  readonly ratePerSecond: number;
  readonly seconds: number;
  readonly minimal: FloorResponder;
  readonly echo: FloorResponder;
  readonly cgwatch: FloorResponder;
}

/** What a responder offers the measurement: its CPU so far, what it counted, its RSS. */
interface Probe {
  usage(): Promise<{ cpuMs: number; counted: number; rssMb: number }>;
}

function request<K extends FloorReply["kind"]>(
  child: ChildProcess,
  cmd: FloorCommand,
  kind: K,
): Promise<Extract<FloorReply, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`floor listener exited with ${String(code)}`));
    child.once("message", (r: FloorReply) => {
      child.off("exit", onExit);
      if (r.kind === kind) resolve(r as Extract<FloorReply, { kind: K }>);
      else reject(new Error(`floor listener answered ${r.kind}, expected ${kind}`));
    });
    child.once("exit", onExit);
    child.send(cmd);
  });
}

function storm(
  driver: ChildProcess,
  cmd: Extract<DriverCommand, { cmd: "storm" }>,
): Promise<Extract<DriverReply, { kind: "storm" }>> {
  return new Promise((resolve, reject) => {
    driver.once("message", (r: DriverReply) =>
      r.kind === "storm" ? resolve(r) : reject(new Error(`driver: ${r.kind === "error" ? r.message : r.kind}`)),
    );
    driver.send(cmd);
  });
}

/** Idle window, then the storm, then until the responder has counted every write (bounded). */
async function measure(
  probe: Probe,
  driver: ChildProcess,
  args: { root: string; n: number; rate: number; seconds: number },
): Promise<FloorResponder> {
  const u0 = await probe.usage();
  const t0 = performance.now();
  await sleep(args.seconds * 1000);
  const u1 = await probe.usage();
  const t1 = performance.now();
  const idleRate = (u1.cpuMs - u0.cpuMs) / (t1 - t0);
  const s = await storm(driver, {
    cmd: "storm",
    root: args.root,
    n: args.n,
    seconds: args.seconds,
    ratePerSecond: args.rate,
  });
  let u2 = await probe.usage();
  for (
    const bound = performance.now() + 10_000;
    u2.counted - u1.counted < s.increments && performance.now() < bound;
    u2 = await probe.usage()
  )
    await sleep(50);
  const t2 = performance.now();
  const stormCpuMs = u2.cpuMs - u1.cpuMs;
  const net = stormCpuMs - idleRate * (t2 - t1);
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  return {
    idleCpuMs: r1(u1.cpuMs - u0.cpuMs),
    stormCpuMs: r1(stormCpuMs),
    stormSeconds: Math.round(t2 - t1) / 1000,
    writes: s.increments,
    counted: u2.counted - u1.counted,
    cpuSecondsPerMillion: Math.round((net / 1000 / s.increments) * 1e6 * 100) / 100,
    rssMb: r1(u2.rssMb),
  };
}

async function listenerRun(
  mode: FloorMode,
  driver: ChildProcess,
  args: { root: string; n: number; rate: number; seconds: number },
): Promise<FloorResponder> {
  const child = fork(path.join(HERE, "floorListener.js"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    await request(child, { cmd: "start", mode, root: args.root, n: args.n }, "started");
    await sleep(500);
    return await measure(
      {
        usage: async () => {
          const u = await request(child, { cmd: "usage" }, "usage");
          return { cpuMs: u.cpuMs, counted: u.changes, rssMb: u.rssMb };
        },
      },
      driver,
      args,
    );
  } finally {
    const gone = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    await gone;
  }
}

async function cgwatchRun(
  driver: ChildProcess,
  args: { root: string; n: number; rate: number; seconds: number },
): Promise<FloorResponder> {
  let counted = 0;
  const bd = await startBenchDaemon({
    layout: v2LayoutAt(args.root),
    yaml: `watch: [ "${WATCH_PATTERN}" ]\npolicies: { builtin: false }\nsafetyNetInterval: 1h\npsi: { memory: "off", cpu: "off", io: "off" }\n`,
    onEvent: (e: WatchdogEvent) => {
      if ("counter" in e) counted += e.counter.after - e.counter.before;
    },
  });
  try {
    await bd.daemon.ready;
    // The publisher's first pass is startup, not idle. It runs in 1 ms slices, so the loop never
    // stalls and untilQuiet returns while it still runs: wait for the CPU to go quiet as well.
    await untilQuiet(60_000);
    await untilCpuQuiet(120_000);
    return await measure(
      { usage: () => Promise.resolve({ cpuMs: cpuMs(), counted, rssMb: process.memoryUsage().rss / 2 ** 20 }) },
      driver,
      args,
    );
  } finally {
    await bd.stop();
  }
}

/** Until a second passes with under 20 ms of this process's CPU (2 % of a core), or the bound. */
async function untilCpuQuiet(boundMs: number): Promise<void> {
  const end = performance.now() + boundMs;
  for (let c0 = cpuMs(); performance.now() < end;) {
    await sleep(1000);
    const c1 = cpuMs();
    if (c1 - c0 < 20) return;
    c0 = c1;
  }
}

export async function floorRun(args: { root: string; n: number; rate: number; seconds: number }): Promise<FloorRun> {
  const driver = fork(path.join(HERE, "driver.js"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    const minimal = await listenerRun("minimal", driver, args);
    const echo = await listenerRun("echo", driver, args);
    const cgwatch = await cgwatchRun(driver, args);
    return { n: args.n, ratePerSecond: args.rate, seconds: args.seconds, minimal, echo, cgwatch };
  } finally {
    const gone = new Promise<void>((r) => driver.once("exit", () => r()));
    driver.kill("SIGTERM");
    await gone;
  }
}
