/**
 * Shared pieces of `npm run bench`: the fake v2 tree in tmpfs, starting the
 * real daemon through loadConfig (the path `cgwatch run` takes), the
 * memory.events text a driver writes, and the statistics every scenario
 * reports.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import type { ActionOutcome, ActionProposal } from "../src/actions/types.js";
import type { CgroupLayout } from "../src/cgroup/layout.js";
import { v2LayoutAt } from "../src/cgroup/layout.js";
import { loadConfig } from "../src/config/load.js";
import { hostMemoryBytes, startDaemon, type Daemon } from "../src/daemon.js";
import type { WatchdogEvent } from "../src/events/types.js";
import { loadNative } from "../src/native/index.js";
import { materialize, V2_CGROUP_FILES } from "../test/helpers/fakeCgroupfs.js";

/** Watched cgroups are `pods/c00000`..: one level below a parent the watch pattern leaves out. */
export const cgroupName = (i: number): string => `pods/c${String(i).padStart(5, "0")}`;
export const WATCH_PATTERN = "pods/*";

/** The policy answers with a raise from this limit, so every cgroup starts limited. */
export const START_LIMIT = 1024 ** 3;

export interface FakeTree {
  readonly root: string;
  readonly n: number;
  readonly layout: CgroupLayout;
}

/** A v2 tree of `n` cgroups with every control file a real one has (fakeCgroupfs' set). */
export function buildTree(root: string, n: number): FakeTree {
  materialize(root, {
    "cgroup.controllers": "cpuset cpu io memory hugetlb pids\n",
    "cgroup.subtree_control": "cpu memory pids\n",
  });
  materialize(path.join(root, "pods"), V2_CGROUP_FILES);
  const files = { ...V2_CGROUP_FILES, "memory.max": `${START_LIMIT}\n` };
  for (let i = 0; i < n; i++) materialize(path.join(root, cgroupName(i)), files);
  return { root, n, layout: v2LayoutAt(root) };
}

export const MEMORY_EVENT_KEYS = ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"] as const;
export type MemoryEventKey = (typeof MEMORY_EVENT_KEYS)[number];

/** memory.events as the kernel prints it; counters only grow, so the text never shrinks and a pwrite at 0 needs no truncate. */
export function memoryEventsText(c: readonly number[]): string {
  return MEMORY_EVENT_KEYS.map((k, i) => `${k} ${c[i] ?? 0}\n`).join("");
}

export function parseMemoryEvents(text: string): number[] {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, v] = line.split(" ");
    if (k !== undefined && v !== undefined) m.set(k, Number(v));
  }
  return MEMORY_EVENT_KEYS.map((k) => m.get(k) ?? 0);
}

export interface BenchDaemon {
  readonly daemon: Daemon;
  readonly startedAt: number;
  stop(): Promise<void>;
}

/**
 * The daemon as `cgwatch run` builds it, but in this process. Logs go to
 * /dev/null at info level: serialising the oom_kill warn line is part of the
 * cost a production daemon pays, keeping the lines is not.
 */
export async function startBenchDaemon(opts: {
  layout: CgroupLayout;
  yaml: string;
  policies?: Readonly<Record<string, string>>;
  serveMetrics?: boolean;
  ownCgroups?: readonly string[];
  onEvent?: (e: WatchdogEvent) => void;
  onAction?: (p: ActionProposal, o: ActionOutcome) => void;
}): Promise<BenchDaemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-bench-daemon-"));
  const policyDir = path.join(dir, "policies");
  fs.mkdirSync(policyDir);
  for (const [name, src] of Object.entries(opts.policies ?? {})) fs.writeFileSync(path.join(policyDir, name), src);
  const configFile = path.join(dir, "cgwatch.yaml");
  fs.writeFileSync(configFile, opts.yaml.replaceAll("$POLICY_DIR", policyDir));
  const loaded = loadConfig({ path: configFile, env: {} });
  if (loaded.kind === "error") throw new Error(`bench config invalid: ${JSON.stringify(loaded.errors)}`);
  const logger = pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: true }));
  const startedAt = performance.now();
  const daemon = await startDaemon({
    config: loaded.config,
    logger,
    layout: opts.layout,
    procRoot: "/proc",
    native: loadNative(),
    hostMemoryBytes: hostMemoryBytes("/proc"),
    ownCgroups: opts.ownCgroups ?? [],
    serveMetrics: opts.serveMetrics ?? false,
    persistent: false,
    protectSelf: false,
    ...(opts.onEvent === undefined ? {} : { onEvent: opts.onEvent }),
    ...(opts.onAction === undefined ? {} : { onAction: opts.onAction }),
  });
  return {
    daemon,
    startedAt,
    async stop() {
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Dist {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentiles. */
export function dist(xs: readonly number[]): Dist {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.max(0, Math.ceil(q * s.length) - 1)] ?? NaN;
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s.at(-1) ?? NaN };
}

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

/** Median (lower middle for even counts), min and max over runs. */
export function spread(xs: readonly number[]): Spread {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)] ?? NaN, min: s[0] ?? NaN, max: s.at(-1) ?? NaN, runs: s.length };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function loadavg(): string {
  return fs.readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ");
}

/** CPU time of this process so far, ms (user + system). */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
