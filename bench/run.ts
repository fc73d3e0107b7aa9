/**
 * `npm run bench`: every figure of DESIGN.md §6 and issue 8. Each scenario
 * runs in a child process of its own (clean RSS, nothing left over from the
 * previous one), at least three times; the table shows median [min–max]
 * over runs, and ratios are taken within a run before the median.
 *
 * Writes bench/results.json (every run, raw) and BENCHMARKS.md (generated).
 * Options: `--only latency,storm,...` runs a subset (results.json and
 * BENCHMARKS.md are then left alone, unless `--merge`: the subset's figures
 * replace the same keys of bench/results.json and BENCHMARKS.md is rendered
 * again); `--runs N` changes the repeat count; `--vm-reps N` the
 * repetitions of the v2 pressure figure (`vmpsi`, one QEMU boot);
 * `--sizes N,M` replaces the populations of the startup (RSS slope) and
 * floor scenarios (a quick check at small sizes); `--help` lists the parts.
 */
import { execFileSync, fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildTree, loadavg, spread, type Spread } from "./common.js";
import { runEventfdLatencyBench, type EventfdLatencyResult } from "./eventfd-latency.js";
import { runMetricsBench, type MetricsBenchResult } from "./metrics.js";
import { runPolicyBench, type PolicyBenchResult } from "./policy.js";
import {
  latencyRun,
  realOomConfirmRun,
  realOomRun,
  realSweepRun,
  startupRun,
  stormRun,
  sweepRun,
  type LatencyRun,
  type OomConfirmRun,
  type RealOomRun,
  type StartupRun,
  type StormRun,
  type SweepRun,
} from "./scenarios.js";
import { fitLine, renderMarkdown } from "./report.js";
import { floorRun, type FloorRun } from "./floor.js";
import { containerRescueRun, type ContainerRescueRun } from "./container.js";
import { containerEngineUnavailable } from "../test/helpers/podman.js";
import { medianP90, runVmPsiBench, type VmPsiBench, type VmPsiRep } from "./vmPsi.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** dist/bench → repo root. */
const REPO = path.resolve(HERE, "..", "..");

type ChildSpec =
  | { readonly name: "latency"; readonly args: { root: string; n: number; samples: number; settleMs?: number } }
  | { readonly name: "startup"; readonly args: { root: string; n: number; idleSeconds: number } }
  | { readonly name: "storm"; readonly args: { root: string; n: number; seconds: number } }
  | { readonly name: "floor"; readonly args: { root: string; n: number; rate: number; seconds: number } }
  | { readonly name: "sweep"; readonly args: { root: string; n: number; sweeps: number } }
  | { readonly name: "realSweep"; readonly args: { count: number; sweeps: number } }
  | { readonly name: "realOom"; readonly args: { reps: number } }
  | { readonly name: "oomConfirm"; readonly args: { kills: number } }
  | { readonly name: "metrics"; readonly args: { runs: number } }
  | { readonly name: "policy"; readonly args: Record<string, never> }
  | { readonly name: "eventfd"; readonly args: { pollWakes: number } }
  | { readonly name: "containerRescue"; readonly args: { reps: number; hogMb: number } };

async function childMain(spec: ChildSpec): Promise<unknown> {
  switch (spec.name) {
    case "latency":
      return latencyRun(spec.args);
    case "startup":
      return startupRun(spec.args);
    case "storm":
      return stormRun(spec.args);
    case "floor":
      return floorRun(spec.args);
    case "sweep":
      return sweepRun(spec.args);
    case "realSweep":
      return realSweepRun(spec.args);
    case "realOom":
      return realOomRun(spec.args);
    case "oomConfirm":
      return realOomConfirmRun(spec.args);
    case "metrics":
      return runMetricsBench({ runs: spec.args.runs });
    case "policy":
      return runPolicyBench();
    case "eventfd":
      return runEventfdLatencyBench({ pollWakes: spec.args.pollWakes });
    case "containerRescue":
      return containerRescueRun(spec.args);
  }
}

export interface RunRecord<T> {
  readonly result: T;
  readonly seconds: number;
  readonly loadBefore: string;
  readonly loadAfter: string;
}

/** Runs one scenario in a fresh node process; the child's only output is its IPC result. */
function inChild<T>(spec: ChildSpec, timeoutMs: number): Promise<RunRecord<T>> {
  const loadBefore = loadavg();
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = fork(path.join(HERE, "run.js"), ["--child"], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: ["--expose-gc"],
    });
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill("SIGKILL");
      reject(new Error(`${spec.name} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("message", (m: { ok: true; result: T } | { ok: false; error: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (m.ok)
        resolve({
          result: m.result,
          seconds: Math.round((performance.now() - t0) / 100) / 10,
          loadBefore,
          loadAfter: loadavg(),
        });
      else reject(new Error(`${spec.name}: ${m.error}`));
    });
    child.once("exit", (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${spec.name} child exited with ${String(code)} before reporting`));
    });
    child.send(spec);
  });
}

async function repeat<T>(label: string, runs: number, spec: ChildSpec, timeoutMs: number): Promise<RunRecord<T>[]> {
  const out: RunRecord<T>[] = [];
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`[bench] ${label} run ${i + 1}/${runs} (load ${loadavg()})\n`);
    out.push(await inChild<T>(spec, timeoutMs));
  }
  return out;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8" }).trim();
  } catch {
    return "(unavailable)";
  }
}

export interface Results {
  readonly machine: { nproc: string; freeG: string; kernel: string; node: string; cpu: string };
  readonly command: string;
  readonly startedAt: string;
  readonly totalSeconds: number;
  readonly treeBuildSeconds: Record<string, number>;
  readonly latency: Record<string, RunRecord<LatencyRun>[]>;
  readonly storm: RunRecord<StormRun>[];
  /** CPU per million events and RSS against the minimal listener and the echo (absent in results from before it existed). */
  readonly floor?: Record<string, RunRecord<FloorRun>[]>;
  readonly startup: Record<string, RunRecord<StartupRun>[]>;
  readonly sweep: Record<string, RunRecord<SweepRun>[]>;
  readonly realSweep: RunRecord<SweepRun>[];
  readonly realOom: RunRecord<RealOomRun>[];
  readonly oomConfirm: RunRecord<OomConfirmRun>[];
  readonly metrics: RunRecord<MetricsBenchResult>[];
  readonly policy: RunRecord<PolicyBenchResult>[];
  readonly eventfd: RunRecord<EventfdLatencyResult>[];
  /** Absent when no container engine could start (the section is left out). */
  readonly containerRescue?: RunRecord<ContainerRescueRun>[];
  /** Real cgroup v2 in the QEMU guest: PSI and memory.events, kernel → event → action (absent in results from before it existed). */
  readonly vmPsi?: VmPsiBench;
}

const fmt = (s: Spread, digits = 2): string =>
  s.runs === 0 ? "n/a" : `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}–${s.max.toFixed(digits)}]`;

function printTable(r: Partial<Results>): void {
  const rows: [string, string][] = [];
  for (const [n, runs] of Object.entries(r.latency ?? {})) {
    const us = (f: (x: LatencyRun) => number): Spread => spread(runs.map((x) => f(x.result) / 1000));
    rows.push([
      `event→action ms @${n} echo p50/p99`,
      `${fmt(
        us((x) => x.echo.p50),
        3,
      )} / ${fmt(
        us((x) => x.echo.p99),
        3,
      )}`,
    ]);
    rows.push([
      `event→action ms @${n} cgwatch p50/p99`,
      `${fmt(
        us((x) => x.cgwatch.p50),
        3,
      )} / ${fmt(
        us((x) => x.cgwatch.p99),
        3,
      )}`,
    ]);
    rows.push([
      `event→action ms @${n} scraped p50/p99`,
      `${fmt(
        us((x) => x.scraped.p50),
        3,
      )} / ${fmt(
        us((x) => x.scraped.p99),
        3,
      )}`,
    ]);
    rows.push([`p99 ratio cgwatch/echo @${n}`, fmt(spread(runs.map((x) => x.result.cgwatch.p99 / x.result.echo.p99)))]);
  }
  if (r.storm !== undefined) {
    rows.push(["storm events/s @10k", fmt(spread(r.storm.map((x) => x.result.eventsPerSecond)), 0)]);
    rows.push(["storm driver writes/s", fmt(spread(r.storm.map((x) => x.result.writesPerSecond)), 0)]);
    rows.push(["storm mismatching series (of 60k)", r.storm.map((x) => x.result.mismatches).join(", ")]);
  }
  for (const [n, runs] of Object.entries(r.floor ?? {})) {
    const cps = (pick: (x: FloorRun) => number): string => fmt(spread(runs.map((x) => pick(x.result))));
    rows.push([
      `CPU s per 1M events @${n} minimal / echo / cgwatch`,
      `${cps((x) => x.minimal.cpuSecondsPerMillion)} / ${cps((x) => x.echo.cpuSecondsPerMillion)} / ${cps((x) => x.cgwatch.cpuSecondsPerMillion)}`,
    ]);
    rows.push([
      `RSS MB @${n} minimal / cgwatch (no policy)`,
      `${cps((x) => x.minimal.rssMb)} / ${cps((x) => x.cgwatch.rssMb)}`,
    ]);
  }
  for (const [n, runs] of Object.entries(r.startup ?? {})) {
    rows.push([`ready ms @${n}`, fmt(spread(runs.map((x) => x.result.readyMs)), 0)]);
    rows.push([`RSS MB @${n}`, fmt(spread(runs.map((x) => x.result.rssMb)), 1)]);
    rows.push([`idle CPU % @${n}`, fmt(spread(runs.map((x) => x.result.idleCpuPercent)), 3)]);
  }
  const slope = fitLine(
    Object.entries(r.startup ?? {}).map(
      ([n, runs]) =>
        [Number(n) / 1000, spread(runs.map((x) => x.result.rssAfterGcMb ?? x.result.rssMb)).median] as const,
    ),
  );
  if (slope !== null)
    rows.push([
      "RSS after GC, MB per 1,000 cgroups / intercept MB",
      `${slope.slope.toFixed(1)} / ${slope.intercept.toFixed(1)}`,
    ]);
  for (const [n, runs] of Object.entries(r.sweep ?? {})) {
    rows.push([
      `sweep CPU ms @${n} reader / naive`,
      `${fmt(spread(runs.map((x) => x.result.readerCpuMs)))} / ${fmt(spread(runs.map((x) => x.result.naiveCpuMs)))}`,
    ]);
  }
  if (r.realOom !== undefined)
    rows.push(["real v1 OOM wake→action ms", fmt(spread(r.realOom.flatMap((x) => x.result.wakeToActionMs)), 3)]);
  if (r.containerRescue !== undefined) {
    const reps = r.containerRescue.flatMap((x) => x.result.reps);
    rows.push(["container stall→first raise ms", fmt(spread(reps.map((x) => x.stallToFirstRaiseMs)), 0)]);
    rows.push(["container stall→hog finished ms", fmt(spread(reps.map((x) => x.stallToHogDoneMs)), 0)]);
  }
  if (r.oomConfirm !== undefined) {
    const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    const late = (xs: number[]): number[] => xs.filter((x) => x >= 1);
    rows.push([
      "real v1 OOM wake→oom_kill event p50 ms (old schedule)",
      `${fmt(spread(r.oomConfirm.map((x) => p50(x.result.confirmMs))), 3)} (${fmt(spread(r.oomConfirm.map((x) => p50(x.result.oldScheduleMs))), 3)})`,
    ]);
    rows.push([
      "  of kills not yet counted at the wake (old)",
      `${fmt(spread(r.oomConfirm.map((x) => p50(late(x.result.confirmMs)))), 3)} (${fmt(spread(r.oomConfirm.map((x) => p50(late(x.result.oldScheduleMs)))), 3)})`,
    ]);
    rows.push([
      "real v1 OOM kills: kernel / events",
      r.oomConfirm.map((x) => `${x.result.kernelKills}/${x.result.eventKills}`).join(", "),
    ]);
  }
  if (r.metrics !== undefined) {
    for (const n of [1000, 10000]) {
      const pick = (x: RunRecord<MetricsBenchResult>) => x.result.scales.find((s) => s.cgroups === n);
      rows.push([
        `/metrics render ms @${n} (stream)`,
        fmt(spread(r.metrics.map((x) => pick(x)?.cgwatchStream.renderMs ?? NaN))),
      ]);
    }
  }
  if (r.policy !== undefined)
    rows.push(["policy calls/s", fmt(spread(r.policy.map((x) => x.result.callsPerSecond)), 0)]);
  if (r.vmPsi?.kind === "measured") {
    const reps = r.vmPsi.reps;
    const q = (pick: (x: VmPsiRep) => number | null): string => {
      const m = medianP90(reps.map(pick));
      return `${m.median.toFixed(0)} / ${m.p90.toFixed(0)}${m.missing > 0 ? ` (${m.missing} missing)` : ""}`;
    };
    rows.push(["v2 VM PSI trigger → event ms p50/p90", q((x) => x.psiEventMs)]);
    rows.push(["v2 VM PSI trigger → action ms p50/p90", q((x) => x.psiActionMs)]);
    rows.push(["v2 VM memory.events → event ms p50/p90", q((x) => x.highEventMs)]);
    rows.push(["v2 VM memory.events → action ms p50/p90", q((x) => x.highActionMs)]);
  } else if (r.vmPsi !== undefined) rows.push(["v2 VM pressure figure", `skipped: ${r.vmPsi.reason}`]);
  if (r.eventfd !== undefined)
    rows.push([
      "eventfd wake median µs",
      fmt(
        spread(r.eventfd.map((x) => (x.result.eventfd.kind === "measured" ? x.result.eventfd.medianMs * 1000 : NaN))),
        1,
      ),
    ]);
  const w = Math.max(...rows.map((x) => x[0].length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
}

/** The parts `--only` takes, in the order a full run runs them. */
const PARTS = [
  "latency",
  "storm",
  "floor",
  "startup",
  "sweep",
  "oom",
  "container",
  "eventfd",
  "metrics",
  "vmpsi",
  "policy",
] as const;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help")) {
    process.stdout.write(
      `npm run bench [-- --only ${PARTS.join(",")}] [--merge] [--runs N] [--vm-reps N] [--sizes N,M]\n`,
    );
    return;
  }
  const sizesArg = argv.indexOf("--sizes");
  const sizes = sizesArg >= 0 ? (argv[sizesArg + 1] ?? "").split(",").map(Number) : null;
  const onlyArg = argv.indexOf("--only");
  const only = onlyArg >= 0 ? new Set((argv[onlyArg + 1] ?? "").split(",")) : null;
  const unknown = [...(only ?? [])].filter((x) => !(PARTS as readonly string[]).includes(x));
  if (unknown.length > 0)
    throw new Error(`--only: unknown part(s) ${unknown.join(", ")}; the parts are ${PARTS.join(", ")}`);
  const runsArg = argv.indexOf("--runs");
  const RUNS = runsArg >= 0 ? Number(argv[runsArg + 1]) : 3;
  const vmRepsArg = argv.indexOf("--vm-reps");
  const VM_REPS = vmRepsArg >= 0 ? Number(argv[vmRepsArg + 1]) : 10;
  const merge = argv.includes("--merge");
  const want = (s: string): boolean => only === null || only.has(s);
  const t0 = performance.now();
  const base = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "cgwatch-bench-"));
  const cleanup = (): void => fs.rmSync(base, { recursive: true, force: true });
  process.once("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  const r: {
    -readonly [K in keyof Results]?: Results[K];
  } = {
    machine: {
      nproc: sh("nproc", []),
      freeG: sh("free", ["-g"]),
      kernel: sh("uname", ["-r"]),
      node: process.version,
      cpu: os.cpus()[0]?.model ?? "unknown",
    },
    command:
      only === null ? "npm run bench" : `npm run bench -- --only ${[...only].join(",")}${merge ? " --merge" : ""}`,
    startedAt: new Date().toISOString(),
  };
  try {
    const trees: Record<number, string> = {};
    const buildSeconds: Record<string, number> = {};
    const tree = (n: number): string => {
      const have = trees[n];
      if (have !== undefined) return have;
      const b0 = performance.now();
      const root = path.join(base, `n${n}`);
      buildTree(root, n);
      buildSeconds[String(n)] = Math.round((performance.now() - b0) / 100) / 10;
      trees[n] = root;
      return root;
    };
    r.treeBuildSeconds = buildSeconds;

    if (want("latency")) {
      r.latency = {};
      for (const n of [100, 1000, 10000]) {
        r.latency[String(n)] = await repeat<LatencyRun>(
          `latency @${n}`,
          RUNS,
          { name: "latency", args: { root: tree(n), n, samples: 300 } },
          180_000,
        );
      }
    }
    if (want("storm"))
      r.storm = await repeat<StormRun>(
        "storm @10000",
        RUNS,
        { name: "storm", args: { root: tree(10000), n: 10000, seconds: 10 } },
        180_000,
      );
    if (want("floor")) {
      r.floor = {};
      for (const n of sizes ?? [10000]) {
        r.floor[String(n)] = await repeat<FloorRun>(
          `CPU per event vs the floors @${n}`,
          RUNS,
          { name: "floor", args: { root: tree(n), n, rate: 2000, seconds: 6 } },
          400_000,
        );
      }
    }
    if (want("startup")) {
      r.startup = {};
      // Four populations for the RSS slope. The idle window is 30 s at 10k, where the idle goal is set (it holds
      // one of each 30 s pass), 10 s at 1k as before, none at 2k and 5k (measured for their RSS only).
      for (const n of sizes ?? [1000, 2000, 5000, 10000]) {
        const idleSeconds = n >= 10000 ? 30 : n === 1000 || sizes !== null ? 10 : 0;
        r.startup[String(n)] = await repeat<StartupRun>(
          `startup/RSS/idle @${n}`,
          RUNS,
          { name: "startup", args: { root: tree(n), n, idleSeconds } },
          180_000,
        );
      }
    }
    if (want("sweep")) {
      r.sweep = {};
      for (const n of [1000, 10000])
        r.sweep[String(n)] = await repeat<SweepRun>(
          `poll sweep @${n}`,
          RUNS,
          { name: "sweep", args: { root: tree(n), n, sweeps: 7 } },
          120_000,
        );
      r.realSweep = await repeat<SweepRun>(
        "poll sweep, real v1 kernel",
        RUNS,
        { name: "realSweep", args: { count: 50, sweeps: 21 } },
        60_000,
      );
    }
    if (want("oom"))
      r.realOom = await repeat<RealOomRun>(
        "real v1 OOM (5 reps per run)",
        1,
        { name: "realOom", args: { reps: 5 } },
        240_000,
      );
    if (want("container")) {
      const missing = containerEngineUnavailable();
      if (missing === null)
        r.containerRescue = await repeat<ContainerRescueRun>(
          "real container rescue (3 containers per run)",
          1,
          { name: "containerRescue", args: { reps: 3, hogMb: 300 } },
          300_000,
        );
      else process.stderr.write(`[bench] real container rescue SKIPPED: ${missing}\n`);
    }
    if (want("oom"))
      r.oomConfirm = await repeat<OomConfirmRun>(
        "real v1 OOM confirm (20 kills per schedule)",
        RUNS,
        { name: "oomConfirm", args: { kills: 20 } },
        240_000,
      );
    if (want("eventfd"))
      r.eventfd = await repeat<EventfdLatencyResult>(
        "eventfd latency",
        RUNS,
        { name: "eventfd", args: { pollWakes: 30 } },
        120_000,
      );
    if (want("metrics"))
      r.metrics = await repeat<MetricsBenchResult>(
        "/metrics render",
        RUNS,
        { name: "metrics", args: { runs: 3 } },
        240_000,
      );
    if (want("vmpsi")) {
      process.stderr.write(`[bench] v2 pressure in the QEMU guest (${VM_REPS} repetitions, one boot)\n`);
      r.vmPsi = runVmPsiBench(REPO, VM_REPS);
    }
    if (want("policy"))
      r.policy = await repeat<PolicyBenchResult>("policy engine", RUNS, { name: "policy", args: {} }, 120_000);
  } finally {
    cleanup();
  }
  r.totalSeconds = Math.round((performance.now() - t0) / 1000);
  printTable(r);
  if (only !== null && merge) {
    // The sections this run measured replace the kept ones; the header (machine, command, start, duration)
    // describes this run, which names the parts it ran.
    const kept = JSON.parse(fs.readFileSync(path.join(REPO, "bench", "results.json"), "utf8")) as Results;
    Object.assign(r, { ...kept, ...r });
  }
  if (only === null || merge) {
    const full = r as Results;
    fs.writeFileSync(path.join(REPO, "bench", "results.json"), `${JSON.stringify(full, null, 2)}\n`);
    // bench/findings.md is written by people reading the figures; it is kept
    // across regenerations by appending it to the generated sections.
    const findingsFile = path.join(REPO, "bench", "findings.md");
    const findings = fs.existsSync(findingsFile) ? `\n${fs.readFileSync(findingsFile, "utf8")}` : "";
    fs.writeFileSync(path.join(REPO, "BENCHMARKS.md"), renderMarkdown(full) + findings);
    process.stderr.write(`[bench] wrote bench/results.json and BENCHMARKS.md in ${r.totalSeconds} s\n`);
  } else {
    const out = path.join(os.tmpdir(), "cgwatch-bench-partial.json");
    fs.writeFileSync(out, `${JSON.stringify(r, null, 2)}\n`);
    process.stderr.write(`[bench] partial run: results in ${out}\n`);
  }
}

if (process.argv[2] === "--child") {
  process.once("message", (spec: ChildSpec) => {
    childMain(spec).then(
      (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
      (err: unknown) =>
        process.send?.({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, () =>
          process.exit(1),
        ),
    );
  });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
