/**
 * Where the event → action time goes, in-process: 100 fake v2 cgroups (or `--cgroups N`), a
 * policy that answers every oom_kill with a memory.max change, 1,500 paced
 * writes to memory.events. Prints the time from the write to the kernel
 * notification being read, and from there to the action decided (p50/p99).
 * Run with `node --cpu-prof` or `--trace-gc` to see what the handler spends.
 *   npm run build && node dist/bench/stress/event-stages.js [--events N]
 *
 * Bytes allocated per event: run with a new space large enough that no
 * scavenge runs during the measured loops, then the growth of the heap is
 * what was allocated (the script checks that no GC ran and says so if one did):
 *   node --expose-gc --min-semi-space-size=256 --max-semi-space-size=256 dist/bench/stress/event-stages.js
 * The same loop is first run against a file no one watches (the driver's
 * own allocation and the daemon's idle work); the figure is the difference.
 * `--alloc-top N` attributes the measured loop's bytes to functions (V8's
 * sampling heap profiler, collected objects included) and prints the top N.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Session } from "node:inspector/promises";
import { PerformanceObserver } from "node:perf_hooks";
import { pino } from "pino";
import { v2LayoutAt } from "../../src/cgroup/layout.js";
import { loadConfig } from "../../src/config/load.js";
import { startDaemon } from "../../src/daemon.js";
import { buildTree } from "../common.js";
import { untilCpuQuiet, untilQuiet } from "../scenarios.js";

const eventsArg = process.argv.indexOf("--events");
const EVENTS = eventsArg >= 0 ? Number(process.argv[eventsArg + 1]) : 1500;
const topArg = process.argv.indexOf("--alloc-top");
const ALLOC_TOP = topArg >= 0 ? Number(process.argv[topArg + 1]) : 0;
const cgroupsArg = process.argv.indexOf("--cgroups");
/** 10,000 shows what scale adds (kept fds cycling, caches missing): events go to a random cgroup each. */
const CGROUPS = cgroupsArg >= 0 ? Number(process.argv[cgroupsArg + 1]) : 100;
const root = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "cgwatch-stages-"));
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-stages-cfg-"));
buildTree(root, CGROUPS);
fs.writeFileSync(
  path.join(work, "p.js"),
  'export const meta = { name: "p", on: ["oom_kill"], match: ["**"], cooldown: "0s" };\nexport function onEvent(e, c) { return [{ kind: "set_memory_limit", bytes: c.memory.limitBytes + 4096 }]; }\n',
);
fs.writeFileSync(
  path.join(work, "c.yaml"),
  // No periodic pass in the measured loops (at 10k one would take seconds of CPU): only the events' own cost.
  `watch: [ "pods/*" ]\npolicies: { builtin: false, dirs: [ "${work}" ] }\nguardrails: { cooldown: 0s, rateLimit: null }\npsi: { memory: "off" }\n` +
    `safetyNetInterval: 1h\n`,
);
const cfg = loadConfig({ path: path.join(work, "c.yaml"), env: {} });
if (cfg.kind !== "ok") throw new Error(JSON.stringify(cfg.errors));

let writeAt = 0;
const notify: number[] = [];
const decide: number[] = [];
const landed: number[] = [];
// When the action's write lands: the writer truncates a fake-tree file just before writing it, and that
// truncation is the inotify event the latency bench's driver times (kernfs ignores it; a real write is next).
let truncatedAt = 0;
const ftruncateSync = fs.ftruncateSync;
fs.ftruncateSync = (fd: number, len?: number): void => {
  truncatedAt = performance.now();
  ftruncateSync(fd, len);
};
const daemon = await startDaemon({
  config: cfg.config,
  logger: pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: true })),
  layout: v2LayoutAt(root),
  procRoot: "/proc",
  native: { kind: "unavailable", reason: "not needed on a fake v2 tree" },
  hostMemoryBytes: os.totalmem(),
  ownCgroups: [],
  serveMetrics: false,
  persistent: false,
  protectSelf: false,
  onAction: (p) => {
    notify.push(p.cause.at - writeAt);
    landed.push(truncatedAt - p.cause.at);
    decide.push(performance.now() - p.cause.at);
  },
});
await daemon.ready;
// The publisher's first pass runs in slices after ready: at 10k cgroups it would share the measured loops.
if (CGROUPS > 1000) {
  await untilQuiet(60_000);
  await untilCpuQuiet(60_000, 0.1); // its slices never stall the loop
}
const cgroups = fs
  .readdirSync(path.join(root, "pods"), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);
const unwatched = path.join(work, "memory.events");
fs.writeFileSync(unwatched, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");

let gcs = 0;
const gcObserver = new PerformanceObserver((list) => (gcs += list.getEntries().length));
gcObserver.observe({ entryTypes: ["gc"] });
const gc = (globalThis as { gc?: () => void }).gc;

/** `count` paced oom_kill bumps of `fileOf(i)`; returns the heap growth and the GCs that ran meanwhile. */
async function loop(
  count: number,
  fileOf: (i: number) => string,
): Promise<{ bytes: number; gcs: number; cpuMs: number }> {
  gc?.();
  await new Promise((r) => setTimeout(r, 50));
  const gc0 = gcs;
  const h0 = process.memoryUsage().heapUsed;
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const file = fileOf(i);
    const kills = Number(/oom_kill (\d+)/.exec(fs.readFileSync(file, "utf8"))?.[1] ?? "0") + 1;
    writeAt = performance.now();
    fs.writeFileSync(file, `low 0\nhigh 0\nmax 0\noom 0\noom_kill ${kills}\noom_group_kill 0\n`);
    await new Promise((r) => setTimeout(r, 3));
  }
  await new Promise((r) => setTimeout(r, 20));
  const c = process.cpuUsage(c0);
  return { bytes: process.memoryUsage().heapUsed - h0, gcs: gcs - gc0, cpuMs: (c.user + c.system) / 1000 };
}

// Warm-up (JIT, first reads, kept fds), then the unwatched baseline, then the measured events.
await loop(Math.min(300, EVENTS), (i) => path.join(root, "pods", cgroups[i % cgroups.length] ?? "", "memory.events"));
const ms = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(", ");
// A fresh daemon's first events run cold code (lazy compilation, no type feedback): the real-OOM bench's figure is one.
process.stdout.write(`first events: →written ${ms(landed.slice(0, 5))} ms; →decided ${ms(decide.slice(0, 5))} ms\n`);
notify.length = 0;
decide.length = 0;
landed.length = 0;
const base = await loop(EVENTS, () => unwatched);
const actionsBefore = decide.length;
const session = new Session();
if (ALLOC_TOP > 0) {
  session.connect();
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}
// Past the warm-up's cgroups: at 10k each measured event finds a cgroup not touched since discovery.
const measured = await loop(EVENTS, (i) =>
  path.join(root, "pods", cgroups[(i + 300) % cgroups.length] ?? "", "memory.events"),
);
const actions = decide.length - actionsBefore;
if (ALLOC_TOP > 0) printTopAllocators((await session.post("HeapProfiler.stopSampling")).profile.head, ALLOC_TOP);
gcObserver.disconnect();

const q = (xs: number[], p: number): string =>
  ([...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))] ?? NaN).toFixed(3);
process.stdout.write(
  `n=${decide.length} (${CGROUPS} cgroups) write→notification read p50 ${q(notify, 0.5)} p99 ${q(notify, 0.99)} ms; ` +
    `→action written p50 ${q(landed, 0.5)} p99 ${q(landed, 0.99)} ms; →action decided p50 ${q(decide, 0.5)} p99 ${q(decide, 0.99)} ms\n`,
);
const kb = (b: number): string => (b / 1024).toFixed(1);
process.stdout.write(
  `CPU per event: ${(((measured.cpuMs - base.cpuMs) / EVENTS) * 1000).toFixed(0)} µs (process CPU over the measured loop, ${measured.cpuMs.toFixed(0)} ms, less the unwatched loop's, ${base.cpuMs.toFixed(0)} ms)\n`,
);
process.stdout.write(
  `heap growth: ${kb(base.bytes / EVENTS)} KB per write to an unwatched file (${base.gcs} GCs), ${kb(measured.bytes / EVENTS)} KB per event (${measured.gcs} GCs, ${actions} actions); ` +
    `allocated per event ≈ ${kb((measured.bytes - base.bytes) / EVENTS)} KB${base.gcs + measured.gcs > 0 ? " (NOT valid: a GC ran; give a larger --min/--max-semi-space-size)" : ""}\n`,
);
await daemon.stop();
fs.rmSync(root, { recursive: true, force: true });
fs.rmSync(work, { recursive: true, force: true });
process.exit(0);

interface SampleNode {
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly selfSize: number;
  readonly children: SampleNode[];
}

/** Self bytes per function (name, file:line) over the sampled loop, per event, largest first. */
function printTopAllocators(head: SampleNode, top: number): void {
  const byFn = new Map<string, number>();
  const byOwn = new Map<string, number>();
  const name = (f: SampleNode["callFrame"]): string =>
    `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/(dist|node_modules)\//, "$1/")}:${f.lineNumber + 1}`;
  // Keyed by the allocating function and its nearest caller in cgwatch's own code (dist/src).
  const walk = (n: SampleNode, ownCaller: string): void => {
    const here = name(n.callFrame);
    const key = here.includes("dist/src/") ? here : `${here} ← ${ownCaller}`;
    byFn.set(key, (byFn.get(key) ?? 0) + n.selfSize);
    const own = here.includes("dist/src/") ? here : ownCaller;
    byOwn.set(own, (byOwn.get(own) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c, here.includes("dist/src/") ? here : ownCaller);
  };
  walk(head, "?");
  const print = (title: string, m: Map<string, number>): void => {
    process.stdout.write(`${title}\n`);
    for (const [k, b] of [...m].sort((x, y) => y[1] - x[1]).slice(0, top))
      process.stdout.write(`${(b / EVENTS).toFixed(0).padStart(8)} B/event  ${k}\n`);
  };
  print("by allocating function (← nearest cgwatch caller):", byFn);
  print("by cgwatch function (its own allocations and those of the node/library calls it makes):", byOwn);
}
