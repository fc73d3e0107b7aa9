/**
 * Helpers for the v2 VM tier. These run INSIDE the QEMU guest (its own
 * kernel, cgroup2 mounted at /sys/fs/cgroup with every controller), compiled
 * on the host to dist/test/vm/guest/ and run with node:test. No vitest here:
 * it is slow to start under TCG and test/helpers/realCgroup.ts imports it.
 *
 * Rules: scratch cgroups live under /sys/fs/cgroup/cgwatch-vmtest/, every
 * hog is bounded (a timeout kills it), and no assertion is about wall time
 * (TCG is 10-20x slower than the host and noisy): timeouts only bound hangs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { EMPTY } from "rxjs";
import { createActionExecutor, type ActionExecutor } from "../../../src/actions/executor.js";
import { DEFAULT_GUARDRAILS, type GuardrailConfig } from "../../../src/actions/guardrailConfig.js";
import { parseMemTotal, readOwnCgroups } from "../../../src/actions/selfProtection.js";
import type { Action, ActionOutcome } from "../../../src/actions/types.js";
import { v2LayoutAt, type CgroupLayout } from "../../../src/cgroup/layout.js";
import { parseFlatKeyed } from "../../../src/cgroup/parse.js";
import { createFileReader } from "../../../src/cgroup/read.js";
import { createGuardedWriter } from "../../../src/cgroup/writer.js";
import type { PressureResource, WatchdogEvent } from "../../../src/events/types.js";
import { psiTriggerWakes } from "../../../src/sources/psiTrigger.js";
import type { NativeNotifiers } from "../../../src/watch/notifiers.js";
import type { CgroupTracker } from "../../../src/watch/tracker.js";
import { createWatcher } from "../../../src/watch/watcher.js";

export const V2_ROOT = "/sys/fs/cgroup";
/** Parent of every scratch cgroup the guest tests create. */
export const TEST_PARENT = "cgwatch-vmtest";
/** The interpreter used for memory hogs: small baseline RSS (node's is ~40 MB). */
export const PYTHON = "/usr/bin/python3";

/** True only inside the VM tier's guest (set by run-guest.sh); guards against running on a host by mistake. */
export function assertInGuest(): void {
  if (process.env["CGWATCH_VM_GUEST"] !== "1")
    throw new Error("guest tests must run inside the QEMU VM (test/vm/run-vm.sh), never on the host");
}

export function v2Layout(): CgroupLayout {
  const controllers = fs.readFileSync(path.join(V2_ROOT, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  return v2LayoutAt(V2_ROOT, controllers);
}

function enableControllers(dir: string): void {
  const available = fs.readFileSync(path.join(dir, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  const wanted = ["cpu", "memory", "pids", "io"].filter((c) => available.includes(c));
  fs.writeFileSync(path.join(dir, "cgroup.subtree_control"), wanted.map((c) => `+${c}`).join(" "));
}

let serial = 0;

export class GuestCgroup {
  /** Path relative to the v2 root, e.g. "cgwatch-vmtest/oom-1". */
  readonly cgroup: string;
  readonly dir: string;
  private readonly children = new Set<ChildProcess>();

  constructor(name: string) {
    assertInGuest();
    const parentDir = path.join(V2_ROOT, TEST_PARENT);
    fs.mkdirSync(parentDir, { recursive: true });
    enableControllers(V2_ROOT);
    enableControllers(parentDir);
    serial += 1;
    this.cgroup = `${TEST_PARENT}/${name}-${process.pid}-${serial}`;
    this.dir = path.join(V2_ROOT, this.cgroup);
    fs.mkdirSync(this.dir);
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  read(name: string): string {
    return fs.readFileSync(this.file(name), "utf8");
  }

  write(name: string, value: string): void {
    fs.writeFileSync(this.file(name), value);
  }

  /** A flat-keyed file (memory.events, cpu.stat, pids.events, cgroup.events) as a map, through cgwatch's parser. */
  keyed(name: string): ReadonlyMap<string, number> {
    return parseFlatKeyed(this.read(name)).values;
  }

  counter(name: string, key: string): number {
    const v = this.keyed(name).get(key);
    if (v === undefined) throw new Error(`${this.file(name)} has no key ${key}: ${JSON.stringify(this.read(name))}`);
    return v;
  }

  /**
   * Starts `cmd args` inside this cgroup: a shell writes its own pid to
   * cgroup.procs, then execs the command, so no instruction of the command
   * runs outside the cgroup. SIGKILLed after `timeoutMs` at the latest.
   */
  spawn(cmd: string, args: readonly string[], timeoutMs = 120_000): Hog {
    const child = spawn("/bin/sh", ["-c", 'echo $$ > "$0" && exec "$@"', this.file("cgroup.procs"), cmd, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.children.add(child);
    return new Hog(child, timeoutMs, () => this.children.delete(child));
  }

  /** A python memory hog that allocates and touches `mb` MiB in 1 MiB steps, then sleeps `holdSeconds`. */
  memoryHog(mb: number, holdSeconds = 0, timeoutMs = 120_000): Hog {
    const code = `import time\nb=[]\nfor i in range(${mb}):\n  b.append(bytearray(1<<20))\ntime.sleep(${holdSeconds})`;
    return this.spawn(PYTHON, ["-c", code], timeoutMs);
  }

  /** A shell busy loop: CPU-bound, cheap to start, no allocation. */
  cpuHog(timeoutMs = 120_000): Hog {
    return this.spawn("/bin/sh", ["-c", "while :; do :; done"], timeoutMs);
  }

  pids(): number[] {
    return this.read("cgroup.procs")
      .split("\n")
      .filter((l) => l !== "")
      .map(Number);
  }

  /** Kills everything inside (cgroup.kill), waits until unpopulated, removes the directory. */
  async remove(): Promise<void> {
    if (!fs.existsSync(this.dir)) return;
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    try {
      this.write("cgroup.kill", "1");
    } catch {
      /* already empty or gone */
    }
    await waitFor(
      () => !fs.existsSync(this.dir) || this.counter("cgroup.events", "populated") === 0,
      60_000,
      `${this.cgroup} to empty`,
    );
    try {
      fs.rmdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

export class Hog {
  /** Resolves with the exit code, or the signal name when killed. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = "";
  /** True when the hog was killed by its own timeout (so a SIGKILL was not the kernel's). */
  timedOut = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly child: ChildProcess,
    timeoutMs: number,
    onExit: () => void,
  ) {
    child.stderr?.on("data", (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString();
    });
    this.timer = setTimeout(() => {
      this.timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        clearTimeout(this.timer);
        onExit();
        resolve({ code, signal });
      });
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `pred` until true; throws with `what` after `timeoutMs` (a hang bound, never a latency assertion). */
export async function waitFor(pred: () => boolean, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The event(s) of one kind; an intersection, because MemoryCounterEvent carries several kinds. */
export type EventOf<K extends WatchdogEvent["kind"]> = WatchdogEvent & { readonly kind: K };

export interface WatchLog {
  readonly events: WatchdogEvent[];
  readonly problems: string[];
  /** Resolves when the first discovery scan is done: only then are baselines read. */
  readonly ready: Promise<number>;
  /** The watch loop's live per-cgroup trackers (the counters it last read). */
  readonly trackers: ReadonlyMap<string, CgroupTracker>;
  /** The first event (already seen or future) matching `pred`; rejects after `timeoutMs` with the events seen so far. */
  next<K extends WatchdogEvent["kind"]>(
    kind: K,
    pred: (e: EventOf<K>) => boolean,
    timeoutMs: number,
  ): Promise<EventOf<K>>;
  stop(): void;
}

/**
 * Native notifiers for a v2 host: only PSI triggers exist there (memory
 * events come through inotify), through cgwatch's own psiTriggerWakes.
 */
export const v2NativeNotifiers: NativeNotifiers = {
  v1Oom: () => EMPTY,
  v1Reservation: () => EMPTY,
  v1PressureLevel: () => EMPTY,
  psiTrigger: (pressureFile, cgroup, resource, trigger) =>
    psiTriggerWakes({
      dir: path.dirname(pressureFile),
      file: path.basename(pressureFile),
      cgroup,
      resource,
      trigger,
      keepAlive: false,
    }),
};

/**
 * Runs cgwatch's watch loop (discovery → tracker → inotify/PSI/poll sources)
 * over the real v2 hierarchy and records every event. The safety-net sweep is
 * off by default so that an event can only come from a kernel notification.
 */
export function watchCgroups(
  patterns: readonly string[],
  options: {
    pollIntervalMs?: number;
    safetyNetIntervalMs?: number;
    psiTriggers?: Partial<Record<PressureResource, string>>;
  } = {},
): WatchLog {
  const events: WatchdogEvent[] = [];
  const problems: string[] = [];
  const waiters = new Set<() => void>();
  const watcher = createWatcher({
    layout: v2Layout(),
    reader: createFileReader(),
    patterns,
    pollIntervalMs: options.pollIntervalMs ?? 0,
    safetyNetIntervalMs: options.safetyNetIntervalMs ?? 0,
    rescanIntervalMs: 0,
    native: v2NativeNotifiers,
    ...(options.psiTriggers === undefined ? {} : { psiTriggers: options.psiTriggers }),
    persistent: false,
    onProblem: (p) => problems.push(`${p.cgroup} ${p.file}: ${p.reason}`),
    onSourceError: (cgroup, source, err) =>
      problems.push(`${cgroup} ${source}: ${err instanceof Error ? err.message : String(err)}`),
  });
  const sub = watcher.events$.subscribe({
    next: (e) => {
      events.push(e);
      for (const w of [...waiters]) w();
    },
    error: (err: unknown) => problems.push(`watcher failed: ${String(err)}`),
  });
  return {
    events,
    problems,
    ready: watcher.ready,
    trackers: watcher.trackers,
    next<K extends WatchdogEvent["kind"]>(
      kind: K,
      pred: (e: EventOf<K>) => boolean,
      timeoutMs: number,
    ): Promise<EventOf<K>> {
      const isKind = (e: WatchdogEvent): e is EventOf<K> => e.kind === kind;
      const find = (): EventOf<K> | undefined => events.find((e): e is EventOf<K> => isKind(e) && pred(e));
      return new Promise<EventOf<K>>((resolve, reject) => {
        const check = (): void => {
          const hit = find();
          if (hit === undefined) return;
          cleanup();
          resolve(hit);
        };
        const timer = setTimeout(() => {
          cleanup();
          const seen = events.map((e) => `${e.kind}/${e.source}`).join(", ");
          reject(
            new Error(`no ${kind} event within ${timeoutMs} ms; seen: [${seen}]; problems: [${problems.join("; ")}]`),
          );
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop: () => sub.unsubscribe(),
  };
}

export interface GuestExecutor {
  readonly executor: ActionExecutor;
  /** Every "action decision" line the executor logged, parsed. */
  readonly logLines: Record<string, unknown>[];
  /** Executes one action on `cgroup` as policy "vmtest" and returns the outcome. */
  run(cgroup: string, action: Action): ActionOutcome;
}

/**
 * cgwatch's action executor over the guest's real v2 hierarchy, with the
 * default guardrails except cooldown and rate limit (tests act in quick
 * succession on purpose). Writes go through the guarded writer.
 */
export function guestExecutor(overrides: Partial<GuardrailConfig> = {}): GuestExecutor {
  const layout = v2Layout();
  const logLines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "info" },
    { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const hostMemoryBytes = parseMemTotal(fs.readFileSync("/proc/meminfo", "utf8"));
  if (hostMemoryBytes === null) throw new Error("no MemTotal in /proc/meminfo");
  const executor = createActionExecutor({
    layout,
    writer: createGuardedWriter(layout, "/proc"),
    procRoot: "/proc",
    guardrails: { global: { ...DEFAULT_GUARDRAILS, cooldownMs: 0, rateLimit: null, ...overrides } },
    logger,
    clock: { now: () => performance.now() },
    hostMemoryBytes,
    ownCgroups: readOwnCgroups("/proc"),
  });
  return {
    executor,
    logLines,
    run: (cgroup, action) =>
      executor.execute({ policy: "vmtest", cgroup, action, cause: { kind: "vmtest", at: performance.now() } }),
  };
}

export type LogLine = Record<string, unknown>;

export interface GuestDaemon {
  readonly child: ChildProcess;
  /** Every JSON log line so far, parsed (re-read from the daemon's log file on each access). */
  readonly lines: LogLine[];
  stderr(): string;
  /** Throws when the daemon died: a crash must not look like a slow policy. */
  alive(): true;
  stop(): Promise<void>;
}

/**
 * `node dist/src/cli.js run` with `configLines` as its YAML config (the TCG
 * workaround V8 flags of run-guest.sh apply to it too). Its stdout goes to a
 * file, not a pipe: a test process slow to drain a pipe (one vCPU, a hog
 * running) would block the daemon's synchronous log writes and distort every
 * timing. Resolves once it logged "ready".
 */
export async function startDaemon(
  configLines: readonly string[],
  timeoutMs = 180_000,
  /** The script and its arguments instead of `cli.js run --config <config>` (bench/vm/psi-wait.ts: a traced daemon). */
  entry: (config: string, dir: string) => readonly string[] = (config) => [
    path.join(process.cwd(), "dist/src/cli.js"),
    "run",
    "--config",
    config,
  ],
): Promise<GuestDaemon> {
  const dir = fs.mkdtempSync("/tmp/cgwatch-vm-");
  const config = path.join(dir, "cgwatch.yaml");
  const logFile = path.join(dir, "daemon.log");
  fs.writeFileSync(config, [...configLines, ""].join("\n"));
  const v8Flags = (process.env["CGWATCH_GUEST_NODE_FLAGS"] ?? "").split(" ").filter((f) => f !== "");
  const out = fs.openSync(logFile, "w");
  const child = spawn(process.execPath, [...v8Flags, ...entry(config, dir)], { stdio: ["ignore", out, "pipe"] });
  fs.closeSync(out);
  const parsed: LogLine[] = [];
  let offset = 0;
  let partial = "";
  const refresh = (): LogLine[] => {
    let text: string;
    try {
      const fd = fs.openSync(logFile, "r");
      try {
        const size = fs.fstatSync(fd).size;
        const buf = Buffer.alloc(size - offset);
        fs.readSync(fd, buf, 0, buf.length, offset);
        offset = size;
        text = buf.toString("utf8");
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return parsed;
    }
    partial += text;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const p of parts) {
      try {
        parsed.push(JSON.parse(p) as LogLine);
      } catch {
        parsed.push({ msg: "unparsed", text: p });
      }
    }
    return parsed;
  };
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const daemon: GuestDaemon = {
    child,
    get lines() {
      return refresh();
    },
    stderr: () => err,
    alive: () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `the daemon died (code ${child.exitCode}, signal ${child.signalCode}): ${refresh()
            .slice(-20)
            .map((l) => JSON.stringify(l))
            .join("\n")}\nstderr: ${err.slice(-2000)}`,
        );
      }
      return true;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await waitFor(
    () => daemon.alive() && daemon.lines.some((l) => l["msg"] === "ready: first scan complete"),
    timeoutMs,
    "the daemon to be ready",
    200,
  );
  return daemon;
}

/** A log line's pino time (ISO) as epoch ms. */
export function lineTime(l: LogLine): number {
  return Date.parse(String(l["time"]));
}
