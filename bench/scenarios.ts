/**
 * The scenarios `bench/run.ts` runs, each in a child process of its own
 * (clean RSS, no JIT or heap left over from the previous one). Every
 * function here is one run; run.ts repeats it and takes median/min/max.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ActionOutcome } from "../src/actions/types.js";
import { createFileReader } from "../src/cgroup/read.js";
import { layoutFromMountInfo } from "../src/cgroup/layout.js";
import { parseProcCgroup } from "../src/cgroup/paths.js";
import { v2LayoutAt } from "../src/cgroup/layout.js";
import type { WatchdogEvent } from "../src/events/types.js";
import { loadNative } from "../src/native/index.js";
import { v1OomWakes } from "../src/sources/v1Notifications.js";
import { createNativeNotifiers } from "../src/watch/nativeNotifiers.js";
import { createWatcher } from "../src/watch/watcher.js";
import {
  cgroupName,
  cpuMs,
  dist,
  MEMORY_EVENT_KEYS,
  parseMemoryEvents,
  sleep,
  startBenchDaemon,
  WATCH_PATTERN,
  type Dist,
} from "./common.js";
import type { DriverCommand, DriverReply } from "./driver.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

export function startDriver(): ChildProcess {
  return fork(path.join(HERE, "driver.js"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

export function ask<K extends DriverReply["kind"]>(
  child: ChildProcess,
  cmd: DriverCommand,
  kind: K,
): Promise<Extract<DriverReply, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const onMsg = (r: DriverReply): void => {
      child.off("exit", onExit);
      if (r.kind === kind) resolve(r as Extract<DriverReply, { kind: K }>);
      else reject(new Error(`driver: ${r.kind === "error" ? r.message : r.kind}`));
    };
    const onExit = (code: number | null): void => reject(new Error(`driver exited with ${String(code)}`));
    child.once("message", onMsg);
    child.once("exit", onExit);
    child.send(cmd);
  });
}

export async function endChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  await gone;
}

/** The policy that answers: on every oom_kill, raise memory.max by 1 MiB. */
export const RAISE_POLICY = `
export const meta = { name: "bench-raise", on: ["oom_kill"], match: ["**"], cooldown: "0s" };
export function onEvent(event, cgroup) {
  return [{ kind: "set_memory_limit", bytes: cgroup.memory.limitBytes + 1048576 }];
}
`;

/** Fake-tree config: only the bench policy, no guardrail that would throttle a test of speed, PSI off (a tmpfs file cannot take a trigger). */
export const latencyYaml = (listen: string): string => `
watch: [ "${WATCH_PATTERN}" ]
policies:
  builtin: false
  dirs: [ "$POLICY_DIR" ]
guardrails:
  cooldown: 0s
  rateLimit: { perMinute: 10000000, burst: 1000000 }
psi: { memory: "off", cpu: "off", io: "off" }
metrics:
  listen: ${listen}
`;

/** The floor: fs.watch on each memory.events → writeFileSync of memory.max, nothing else. */
function startEcho(root: string, n: number): () => void {
  const watchers: fs.FSWatcher[] = [];
  for (let i = 0; i < n; i++) {
    const dir = path.join(root, cgroupName(i));
    const target = path.join(dir, "memory.max");
    watchers.push(
      fs.watch(path.join(dir, "memory.events"), { persistent: false }, () => fs.writeFileSync(target, "1074790400\n")),
    );
  }
  return () => {
    for (const w of watchers) w.close();
  };
}

export interface LatencyRun {
  readonly n: number;
  readonly echo: Dist;
  readonly cgwatch: Dist;
  readonly scraped: Dist;
  readonly lost: { echo: number; cgwatch: number; scraped: number };
  readonly actionsApplied: number;
  readonly actionsOther: number;
  readonly scrapes: number;
  readonly scrapeBytes: number;
  readonly scrapeSeconds: number;
  /** Sample indices (in driver order) over 20 ms, cgwatch without scraping: clustered = one stall, spread = steady cost. */
  readonly slowSamples: number[];
  /** The publisher's first pass after ready, seen as event-loop stalls. */
  readonly firstPass: QuietResult;
}

export interface QuietResult {
  /** From the call until the last stall over 10 ms. */
  readonly busyMs: number;
  readonly maxStallMs: number;
  readonly stallsOver10ms: number;
}

/** A setImmediate chain measures the loop's stalls until 1 s passes without one over 10 ms (or the bound). */
export function untilQuiet(boundMs: number): Promise<QuietResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let last = t0;
    let lastStallEnd = t0;
    let maxStall = 0;
    let stalls = 0;
    const tick = (): void => {
      const t = performance.now();
      const gap = t - last;
      last = t;
      if (gap > 10) {
        stalls++;
        maxStall = Math.max(maxStall, gap);
        lastStallEnd = t;
      }
      if (t - lastStallEnd >= 1000 || t - t0 >= boundMs) {
        const r2 = (x: number): number => Math.round(x * 10) / 10;
        resolve({ busyMs: r2(lastStallEnd - t0), maxStallMs: r2(maxStall), stallsOver10ms: stalls });
      } else setTimeout(tick, 1); // a timer, not setImmediate: keeps the probe from spinning a core the daemon needs
    };
    setTimeout(tick, 1);
  });
}

/**
 * Until this process's CPU over 500 ms windows is under `fraction` of a core
 * (or the bound): the publisher's first pass runs in 1 ms slices that never
 * stall the loop, so untilQuiet returns while it still has seconds to go (at
 * 10k cgroups the daemon then burned ~85 % of a core through the whole
 * measured round, and the p50 doubled). Resolves with the ms waited.
 */
export async function untilCpuQuiet(boundMs: number, fraction = 0.2): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < boundMs) {
    const c0 = process.cpuUsage();
    await sleep(500);
    const c = process.cpuUsage(c0);
    if ((c.user + c.system) / 1000 < 500 * fraction) break;
  }
  return Math.round(performance.now() - t0);
}

/** Echo, then cgwatch, then cgwatch while a third process scrapes /metrics back to back; same tree, same driver. */
export async function latencyRun(args: {
  root: string;
  n: number;
  samples: number;
  settleMs?: number;
}): Promise<LatencyRun> {
  const driver = startDriver();
  const scraper = startDriver();
  const cmd = (): DriverCommand => ({
    cmd: "latency",
    root: args.root,
    n: args.n,
    samples: args.samples,
    warmup: 20,
    paceMinMs: 5,
    paceMaxMs: 10,
    timeoutMs: 2000,
  });
  try {
    const stopEcho = startEcho(args.root, args.n);
    await sleep(200);
    const echo = await ask(driver, cmd(), "latency");
    stopEcho();

    let applied = 0;
    let other = 0;
    const bd = await startBenchDaemon({
      layout: v2LayoutAt(args.root),
      yaml: latencyYaml("127.0.0.1:0"),
      policies: { "raise.js": RAISE_POLICY },
      serveMetrics: true,
      onAction: (_p, o: ActionOutcome) => (o.kind === "applied" ? applied++ : other++),
    });
    try {
      const watched = await bd.daemon.ready;
      if (watched !== args.n) throw new Error(`daemon watches ${watched} cgroups, expected ${args.n}`);
      // The publisher's first pass starts at ready and reads every file of every cgroup in
      // slices; wait for the loop to go quiet (no stall over 10 ms for 1 s) and record what it cost.
      const pass = await untilQuiet(args.settleMs ?? 30_000);
      await untilCpuQuiet(60_000);
      const cg = await ask(driver, cmd(), "latency");
      const url = `${bd.daemon.metricsServer?.url ?? ""}/metrics`;
      const scraping = ask(scraper, { cmd: "scrape", url, maxSeconds: 120 }, "scrape");
      await sleep(300);
      const sc = await ask(driver, cmd(), "latency");
      scraper.send({ cmd: "stop" } satisfies DriverCommand);
      const s = await scraping;
      return {
        n: args.n,
        echo: dist(echo.latUs),
        cgwatch: dist(cg.latUs),
        scraped: dist(sc.latUs),
        lost: { echo: echo.lost, cgwatch: cg.lost, scraped: sc.lost },
        actionsApplied: applied,
        actionsOther: other,
        scrapes: s.scrapes,
        scrapeBytes: s.scrapes > 0 ? Math.round(s.bytes / s.scrapes) : 0,
        scrapeSeconds: s.seconds,
        firstPass: pass,
        slowSamples: cg.latUs.flatMap((us, i) => (us > 20_000 ? [i] : [])),
      };
    } finally {
      await bd.stop();
    }
  } finally {
    await endChild(driver);
    await endChild(scraper);
  }
}

export interface StartupRun {
  readonly n: number;
  readonly readyMs: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly policies: number;
  readonly idleSeconds: number;
  readonly idleCpuMs: number;
  readonly idleCpuPercent: number;
  readonly rssAfterIdleMb: number;
  /** After the idle window and a full GC (the run's children have --expose-gc): what the state itself takes, the least noisy RSS. */
  readonly rssAfterGcMb?: number;
  readonly heapAfterGcMb?: number;
  readonly firstPass: QuietResult;
}

/** Time to ready, RSS after it, and CPU while idle: the shipped policies and the default intervals. */
export async function startupRun(args: { root: string; n: number; idleSeconds: number }): Promise<StartupRun> {
  const mb = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
  const bd = await startBenchDaemon({
    layout: v2LayoutAt(args.root),
    yaml: `watch: [ "${WATCH_PATTERN}" ]\npsi: { memory: "off", cpu: "off", io: "off" }\n`,
  });
  try {
    const watched = await bd.daemon.ready;
    const readyMs = performance.now() - bd.startedAt;
    if (watched !== args.n) throw new Error(`daemon watches ${watched} cgroups, expected ${args.n}`);
    const firstPass = await untilQuiet(60_000); // the publisher's first pass, as in latencyRun
    const rss = process.memoryUsage();
    const c0 = cpuMs();
    const t0 = performance.now();
    await sleep(args.idleSeconds * 1000);
    const idleCpuMs = cpuMs() - c0;
    const seconds = (performance.now() - t0) / 1000;
    const rssAfterIdle = process.memoryUsage().rss;
    (globalThis as { gc?: () => void }).gc?.();
    const afterGc = process.memoryUsage();
    return {
      n: args.n,
      readyMs: Math.round(readyMs),
      rssMb: mb(rss.rss),
      heapUsedMb: mb(rss.heapUsed),
      policies: bd.daemon.policies.policies().length,
      idleSeconds: Math.round(seconds * 10) / 10,
      idleCpuMs: Math.round(idleCpuMs),
      // No idle window (a population measured for its RSS only): no idle figure.
      idleCpuPercent: args.idleSeconds === 0 ? NaN : Math.round((idleCpuMs / (seconds * 1000)) * 10000) / 100,
      rssAfterIdleMb: mb(rssAfterIdle),
      rssAfterGcMb: mb(afterGc.rss),
      heapAfterGcMb: mb(afterGc.heapUsed),
      firstPass,
    };
  } finally {
    await bd.stop();
  }
}

export interface StormRun {
  readonly n: number;
  readonly driverWrites: number;
  readonly driverSeconds: number;
  readonly writesPerSecond: number;
  readonly eventsDuringStorm: number;
  readonly eventsPerSecond: number;
  readonly countsHandledPerSecond: number;
  readonly settleMs: number;
  readonly totalEvents: number;
  readonly checked: number;
  readonly mismatches: number;
  readonly mismatchByKey: Record<string, number>;
  readonly examples: string[];
  readonly lostCounts: number;
  readonly extraCounts: number;
}

/**
 * 10 s of counters moving as fast as the driver writes, no policy; then the
 * rendered cgwatch_memory_events_total against every counter on disk. The
 * periodic safety net is pushed out to an hour and the publisher with it, so
 * what the metrics hold came through the notification path and the storm
 * catch-up sweep (the watcher runs the safety net once when a wake storm that
 * may have overflowed the inotify queue calms down).
 */
export async function stormRun(args: {
  root: string;
  n: number;
  seconds: number;
  ratePerSecond?: number;
}): Promise<StormRun> {
  const driver = startDriver();
  let events = 0;
  let counted = 0;
  let lastEventAt = performance.now();
  const bd = await startBenchDaemon({
    layout: v2LayoutAt(args.root),
    yaml: `watch: [ "${WATCH_PATTERN}" ]\npolicies: { builtin: false }\nsafetyNetInterval: 1h\npsi: { memory: "off", cpu: "off", io: "off" }\n`,
    onEvent: (e: WatchdogEvent) => {
      if ("counter" in e) {
        events++;
        counted += e.counter.after - e.counter.before;
        lastEventAt = performance.now();
      }
    },
  });
  try {
    await bd.daemon.ready;
    await sleep(1000);
    await bd.daemon.metrics.render(); // series born at 0 are shown once; this scrape takes that turn
    const before = new Map<string, number[]>();
    for (let i = 0; i < args.n; i++)
      before.set(
        cgroupName(i),
        parseMemoryEvents(fs.readFileSync(path.join(args.root, cgroupName(i), "memory.events"), "utf8")),
      );
    events = 0;
    counted = 0;
    const c0 = cpuMs();
    const s = await ask(
      driver,
      {
        cmd: "storm",
        root: args.root,
        n: args.n,
        seconds: args.seconds,
        ...(args.ratePerSecond === undefined ? {} : { ratePerSecond: args.ratePerSecond }),
      },
      "storm",
    );
    const eventsDuring = events;
    const countedDuring = counted;
    const stormCpuMs = cpuMs() - c0;
    // Settle: the daemon drains its inotify queue, and up to ~2 s after the
    // storm the catch-up sweep re-reads everything; done when 3 s pass
    // without an event.
    const t0 = performance.now();
    while (performance.now() - lastEventAt < 3000 && performance.now() - t0 < 60_000) await sleep(100);
    const settleMs = Math.max(0, lastEventAt - t0);
    const text = await bd.daemon.metrics.render();
    const exported = new Map<string, number>();
    const re = /^cgwatch_memory_events_total\{([^}]*)\} (\S+)$/gm;
    for (const m of text.matchAll(re)) {
      const labels = new Map(
        [...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l): [string, string] => [l[1] ?? "", l[2] ?? ""]),
      );
      exported.set(`${labels.get("cgroup") ?? ""}|${labels.get("event") ?? ""}`, Number(m[2]));
    }
    let checked = 0;
    let mismatches = 0;
    let lost = 0;
    let extra = 0;
    const byKey: Record<string, number> = {};
    const examples: string[] = [];
    for (let i = 0; i < args.n; i++) {
      const cg = cgroupName(i);
      const disk = parseMemoryEvents(fs.readFileSync(path.join(args.root, cg, "memory.events"), "utf8"));
      MEMORY_EVENT_KEYS.forEach((k, j) => {
        checked++;
        const want = disk[j] ?? 0;
        const got = exported.get(`${cg}|${k}`) ?? 0;
        if (got !== want) {
          mismatches++;
          byKey[k] = (byKey[k] ?? 0) + 1;
          if (got < want) lost += want - got;
          else extra += got - want;
          if (examples.length < 4) examples.push(`${cg} ${k}: disk ${want}, metric ${got}`);
        }
      });
    }
    void stormCpuMs;
    return {
      n: args.n,
      driverWrites: s.writes,
      driverSeconds: Math.round(s.seconds * 100) / 100,
      writesPerSecond: Math.round(s.writes / s.seconds),
      eventsDuringStorm: eventsDuring,
      eventsPerSecond: Math.round(eventsDuring / s.seconds),
      countsHandledPerSecond: Math.round(countedDuring / s.seconds),
      settleMs: Math.round(settleMs),
      totalEvents: events,
      checked,
      mismatches,
      mismatchByKey: byKey,
      examples,
      lostCounts: lost,
      extraCounts: extra,
    };
  } finally {
    await bd.stop();
    await endChild(driver);
  }
}

export interface SweepRun {
  readonly n: number;
  readonly files: number;
  /** CPU ms per sweep over all files (cpu.stat + memory.current of every cgroup). */
  readonly readerCpuMs: number;
  readonly naiveCpuMs: number;
  readonly readerWallMs: number;
  readonly naiveWallMs: number;
  readonly readerOpenFds: number;
  readonly ratio: number;
}

/** One sweep = read cpu.stat and memory.current of every cgroup. Reader and naive loop alternate sweep by sweep. */
export function sweepRun(args: { root: string; n: number; sweeps: number; paths?: string[] }): SweepRun {
  const files =
    args.paths ??
    Array.from({ length: args.n }, (_, i) => [
      path.join(args.root, cgroupName(i), "cpu.stat"),
      path.join(args.root, cgroupName(i), "memory.current"),
    ]).flat();
  const reader = createFileReader();
  let sink = 0;
  const readerCpu: number[] = [];
  const naiveCpu: number[] = [];
  const readerWall: number[] = [];
  const naiveWall: number[] = [];
  const viaReader = (): void => {
    for (const f of files) {
      const r = reader.read(f);
      if (r.kind === "ok") sink += r.text.length;
    }
  };
  const naive = (): void => {
    for (const f of files) sink += fs.readFileSync(f, "utf8").length;
  };
  viaReader(); // first sweep opens the fds the daemon keeps
  naive();
  for (let s = 0; s < args.sweeps; s++) {
    for (const [fn, cpu, wall] of [
      [viaReader, readerCpu, readerWall],
      [naive, naiveCpu, naiveWall],
    ] as const) {
      const c0 = cpuMs();
      const t0 = performance.now();
      fn();
      wall.push(performance.now() - t0);
      cpu.push(cpuMs() - c0);
    }
  }
  const openFds = reader.openCount;
  reader.close();
  if (sink < 0) throw new Error("unreachable");
  const med = (xs: number[]): number => dist(xs).p50;
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return {
    n: args.n,
    files: files.length,
    readerCpuMs: r2(med(readerCpu)),
    naiveCpuMs: r2(med(naiveCpu)),
    readerWallMs: r2(med(readerWall)),
    naiveWallMs: r2(med(naiveWall)),
    readerOpenFds: openFds,
    ratio: r2(med(readerCpu) / med(naiveCpu)),
  };
}

/** The real v1 hierarchies of this host, from mountinfo. */
export function hostLayout(): ReturnType<typeof layoutFromMountInfo> {
  return layoutFromMountInfo(fs.readFileSync("/proc/self/mountinfo", "utf8"), (root) => {
    try {
      return fs.readFileSync(path.join(root, "cgroup.controllers"), "utf8");
    } catch {
      return "";
    }
  });
}

/** Real kernel sweep: scratch cpu+cpuacct... cgroups are not needed; memory cgroups under our own memory cgroup are. */
export function realSweepRun(args: { count: number; sweeps: number }): SweepRun {
  const layout = hostLayout();
  const memRoot = layout.v1.get("memory");
  if (memRoot === undefined) throw new Error("no v1 memory hierarchy");
  const own = parseProcCgroup(fs.readFileSync("/proc/self/cgroup", "utf8")).v1.get("memory") ?? "";
  const cpuRoot = layout.v1.get("cpu");
  const cpuOwn = parseProcCgroup(fs.readFileSync("/proc/self/cgroup", "utf8")).v1.get("cpu") ?? "";
  const dirs: string[] = [];
  try {
    const paths: string[] = [];
    for (let i = 0; i < args.count; i++) {
      const m = path.join(memRoot, own, `cgwatch-bench-${process.pid}-s${i}`);
      fs.mkdirSync(m);
      dirs.push(m);
      paths.push(path.join(m, "memory.usage_in_bytes"));
      if (cpuRoot !== undefined) {
        const c = path.join(cpuRoot, cpuOwn, `cgwatch-bench-${process.pid}-s${i}`);
        fs.mkdirSync(c);
        dirs.push(c);
        paths.push(path.join(c, "cpu.stat"));
      }
    }
    return sweepRun({ root: "", n: args.count, sweeps: args.sweeps, paths });
  } finally {
    for (const d of dirs.reverse()) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* reported by the leftover check in run.ts */
      }
    }
  }
}

/** rmdir with retries while the cgroup drains (a killed task leaves it a moment later). */
async function removeCgroupDir(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      await sleep(50);
    }
  }
  throw new Error(`could not remove scratch cgroup ${dir}`);
}

export interface RealOomRun {
  readonly reps: number;
  /** Wake (event.at, performance.now() at the eventfd callback) → onAction, ms, per rep. */
  readonly wakeToActionMs: number[];
  readonly outcomes: string[];
  readonly hogExits: string[];
}

const OOM_YAML = (pattern: string): string => `
watch: [ "${pattern}" ]
policies: { builtin: true }
psi: { memory: "off", cpu: "off", io: "off" }
`;

/**
 * Real v1 OOM: a scratch memory cgroup (50M, oom_kill_disable 1) under our
 * own memory cgroup, the daemon with the shipped policies (oom-rescue
 * answers under_oom), a python hog of 48 MB that stalls at the limit until
 * oom-rescue raises it. New cgroup and daemon per rep (oom-rescue's 30 s
 * cooldown is per cgroup).
 */
export async function realOomRun(args: { reps: number }): Promise<RealOomRun> {
  const layout = hostLayout();
  const memRoot = layout.v1.get("memory");
  if (memRoot === undefined) throw new Error("no v1 memory hierarchy");
  const procCg = parseProcCgroup(fs.readFileSync("/proc/self/cgroup", "utf8"));
  const own = procCg.v1.get("memory") ?? "";
  const ownCgroups = [...new Set(procCg.v1.values())];
  const wakeToActionMs: number[] = [];
  const outcomes: string[] = [];
  const hogExits: string[] = [];
  for (let rep = 0; rep < args.reps; rep++) {
    const cg = path.posix.join(own, `cgwatch-bench-${process.pid}-oom${rep}`);
    const dir = path.join(memRoot, cg);
    fs.mkdirSync(dir);
    let hog: ChildProcess | null = null;
    let bd: Awaited<ReturnType<typeof startBenchDaemon>> | null = null;
    try {
      fs.writeFileSync(path.join(dir, "memory.limit_in_bytes"), String(50 * 2 ** 20));
      try {
        fs.writeFileSync(path.join(dir, "memory.memsw.limit_in_bytes"), String(50 * 2 ** 20));
      } catch {
        /* no swap accounting: the memory limit alone bounds the hog */
      }
      fs.writeFileSync(path.join(dir, "memory.oom_control"), "1");
      let resolveAction: (v: { ms: number; outcome: string }) => void = () => undefined;
      const acted = new Promise<{ ms: number; outcome: string }>((r) => (resolveAction = r));
      bd = await startBenchDaemon({
        layout,
        yaml: OOM_YAML(cg),
        ownCgroups,
        onAction: (p, o) => {
          const t = performance.now();
          if (p.cgroup === cg) resolveAction({ ms: t - p.cause.at, outcome: `${p.policy}:${o.kind}` });
        },
      });
      const watched = await bd.daemon.ready;
      if (watched !== 1) throw new Error(`daemon watches ${watched} cgroups, expected 1`);
      const script =
        "import time\nchunks = []\nfor i in range(48):\n    chunks.append(bytearray(1024 * 1024))\n    time.sleep(0.002)\nprint('done', flush=True)";
      hog = spawn("/bin/sh", ["-c", `echo $$ > ${path.join(dir, "cgroup.procs")} && exec python3 -c "$0"`, script], {
        stdio: "ignore",
        timeout: 30_000,
        killSignal: "SIGKILL",
      });
      const h = hog;
      const exited = new Promise<string>((r) => h.once("exit", (code, sig) => r(sig ?? `exit ${String(code)}`)));
      const timeout = sleep(20_000).then(() => null);
      const a = await Promise.race([acted, timeout]);
      if (a === null) throw new Error("no action within 20 s of the hog's start");
      wakeToActionMs.push(Math.round(a.ms * 1000) / 1000);
      outcomes.push(a.outcome);
      hogExits.push(await Promise.race([exited, sleep(15_000).then(() => "still running")]));
    } finally {
      if (hog !== null && hog.exitCode === null && hog.signalCode === null) {
        const h = hog;
        const gone = new Promise<void>((r) => h.once("exit", () => r()));
        h.kill("SIGKILL");
        try {
          fs.writeFileSync(path.join(dir, "memory.oom_control"), "0"); // a task stalled under OOM dies only once it can run
        } catch {
          /* already gone */
        }
        await gone;
      }
      await bd?.stop();
      await removeCgroupDir(dir);
    }
  }
  return { reps: args.reps, wakeToActionMs, outcomes, hogExits };
}

export interface OomConfirmRun {
  /** OOM_CONFIRM_DELAYS_MS (1, 2, 4 ... ms): wake → oom_kill event, ms, one per kill. */
  readonly confirmMs: number[];
  /** The schedule before issue 13 (10, 100, 1000 ms), same hog, for comparison. */
  readonly oldScheduleMs: number[];
  /** Kills the kernel counted (oom_kill) vs oom_kill events' deltas: equal means none lost or double-counted. */
  readonly kernelKills: number;
  readonly eventKills: number;
}

/**
 * Real v1 OOM kills: how soon after the eventfd wake the `oom_kill` event is
 * emitted. The kernel signals the eventfd on entering OOM handling, ~3 ms
 * before the victim is killed and oom_kill counted; the follow-up re-reads
 * find the increment. A scratch memory cgroup (50M, the OOM killer on) under
 * our own, the watch loop with the eventfd notifiers as the daemon wires
 * them, and `kills` python hogs of 100 MB one after another. Measured from
 * the wake's `at` (performance.now() in the eventfd callback, which every
 * follow-up re-read carries) to the oom_kill event's arrival.
 */
export async function realOomConfirmRun(args: { kills: number }): Promise<OomConfirmRun> {
  if (loadNative().kind !== "loaded") throw new Error("the native addon is not loaded: no eventfd");
  const layout = hostLayout();
  const memRoot = layout.v1.get("memory");
  if (memRoot === undefined) throw new Error("no v1 memory hierarchy");
  const own = parseProcCgroup(fs.readFileSync("/proc/self/cgroup", "utf8")).v1.get("memory") ?? "";
  const kernelKills = (dir: string): number =>
    Number(/oom_kill (\d+)/.exec(fs.readFileSync(path.join(dir, "memory.oom_control"), "utf8"))?.[1] ?? 0);

  const measure = async (
    label: string,
    oldSchedule: boolean,
  ): Promise<{ ms: number[]; kernel: number; events: number }> => {
    const cg = path.posix.join(own, `cgwatch-bench-${process.pid}-${label}`);
    const dir = path.join(memRoot, cg);
    fs.mkdirSync(dir);
    const reader = createFileReader();
    const base = createNativeNotifiers({ keepAlive: false, softLimitRecheckMs: 60_000 });
    const native = oldSchedule
      ? {
          ...base,
          v1Oom: (d: string, c: string) =>
            v1OomWakes({ dir: d, cgroup: c, keepAlive: false, settleDelaysMs: [10, 100, 1000] }),
        }
      : base;
    const watcher = createWatcher({
      layout,
      reader,
      patterns: [cg],
      pollIntervalMs: 60_000,
      safetyNetIntervalMs: 600_000,
      persistent: false,
      native,
    });
    const ms: number[] = [];
    let events = 0;
    const sub = watcher.events$.subscribe((e: WatchdogEvent) => {
      if (e.kind !== "oom_kill") return;
      ms.push(Math.round((performance.now() - e.at) * 1000) / 1000);
      events += e.counter.after - e.counter.before;
    });
    try {
      fs.writeFileSync(path.join(dir, "memory.limit_in_bytes"), String(50 * 2 ** 20));
      await watcher.ready;
      const script = "chunks = []\nfor i in range(100):\n    chunks.append(bytearray(1024 * 1024))";
      for (let i = 0; i < args.kills; i++) {
        const hog = spawn(
          "/bin/sh",
          ["-c", `echo $$ > ${path.join(dir, "cgroup.procs")} && exec python3 -c "$0"`, script],
          { stdio: "ignore", timeout: 30_000, killSignal: "SIGKILL" },
        );
        await new Promise<void>((r) => hog.once("exit", () => r()));
        await sleep(1100); // the last follow-up re-read (1 s) is over: the next kill is a fresh wake
      }
      return { ms, kernel: kernelKills(dir), events };
    } finally {
      sub.unsubscribe();
      reader.close();
      await removeCgroupDir(dir);
    }
  };
  const now = await measure("confirm", false);
  const old = await measure("confirm-old", true);
  return { confirmMs: now.ms, oldScheduleMs: old.ms, kernelKills: now.kernel, eventKills: now.events };
}
