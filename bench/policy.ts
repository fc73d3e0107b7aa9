/**
 * Policy engine figures for BENCHMARKS.md: calls per second and per-call
 * latency of a shipped policy through the whole engine (marshalling,
 * sandbox call, validation), and RSS with every shipped policy loaded.
 * Standalone: `node dist/bench/policy.js` (after `npm run build`).
 */
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { CgroupSnapshot } from "../src/cgroup/snapshot.js";
import type { WatchdogEvent } from "../src/events/types.js";
import { createPolicyEngine } from "../src/policy/engine.js";

export interface PolicyBenchResult {
  readonly policies: number;
  readonly calls: number;
  readonly callsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly loadMs: number;
  readonly rssBeforeMb: number;
  readonly rssWithShippedPoliciesMb: number;
}

/** The repo's policies/ dir, from src (bench/policy.ts) or from dist (dist/bench/policy.js). */
function shippedDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ["..", "../.."]) {
    const dir = path.resolve(here, up, "policies");
    if (fs.existsSync(path.join(dir, "oom-rescue.js"))) return dir;
  }
  throw new Error("policies/ not found next to the bench");
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

export async function runPolicyBench(opts: { calls?: number } = {}): Promise<PolicyBenchResult> {
  const calls = opts.calls ?? 20_000;
  const mb = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  let now = 0;
  const engine = await createPolicyEngine({
    dirs: [shippedDir()],
    logger: pino({ level: "silent" }),
    clock: () => now,
  });
  const loadMs = performance.now() - t0;
  const policies = engine.policies().length;
  const rssLoaded = process.memoryUsage().rss;

  // throttle-burst on a quota-limited cgroup: reads params and state, usually returns nothing, sometimes a quota.
  const snapshot: CgroupSnapshot = {
    path: "docker/bench",
    labels: {},
    memory: null,
    cpu: {
      version: 1,
      quotaUs: 100_000,
      periodUs: 100_000,
      burstUs: null,
      shares: 1024,
      weight: null,
      usageSeconds: 1,
    },
    pids: null,
  };
  const lat: number[] = [];
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    now = i * 1000;
    const event: WatchdogEvent = {
      kind: "cpu_throttled",
      cgroup: `docker/bench-${i % 100}`,
      at: now,
      source: "poll",
      periods: { before: i, after: i + 10 },
      throttledPeriods: { before: 0, after: 1 },
      throttledSeconds: { before: 0, after: 0.01 },
      ratio: 0.1,
      intervalSeconds: 1,
    };
    const s = performance.now();
    engine.evaluate(event, { ...snapshot, path: event.cgroup });
    lat.push((performance.now() - s) * 1000);
  }
  const elapsed = (performance.now() - start) / 1000;
  engine.close();
  lat.sort((a, b) => a - b);
  return {
    policies,
    calls,
    callsPerSecond: Math.round(calls / elapsed),
    p50Us: Math.round(percentile(lat, 0.5) * 10) / 10,
    p99Us: Math.round(percentile(lat, 0.99) * 10) / 10,
    loadMs: Math.round(loadMs),
    rssBeforeMb: mb(rssBefore),
    rssWithShippedPoliciesMb: mb(rssLoaded),
  };
}

const isMain = process.argv[1] !== undefined && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  runPolicyBench().then(
    (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
    (e: unknown) => {
      process.stderr.write(`policy bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
