#!/usr/bin/env node
/**
 * Per-call cost of the policy engine: calls/s, µs per call and JS heap
 * bytes allocated per call, for one or more builds side by side in the same
 * run (so a before/after comparison shares the machine's state).
 *
 *   node scripts/policyCallCost.mjs dist [/tmp/old-dist ...]
 *
 * Each argument is a directory holding the compiled `src/` (tsc's dist/), and
 * optionally the `policies/` of that version (else the repo's are loaded).
 * Allocation is what V8's sampling heap profiler saw allocated during the
 * calls (collected or not, sampled every 64 B), divided by the calls; the
 * events and snapshots are built before each window. Time and bytes are the
 * least over 5 windows of 5,000 evaluations (other load only adds to them). Scenarios: `cpu_throttled` through
 * throttle-burst (what bench/policy.ts times), `sample` on a v2 cgroup with a
 * quota and a label (every shipped sampling policy runs), and `sample` on a v1
 * cgroup with neither (no shipped policy's `sampleOnly` takes it).
 */
import fs from "node:fs";
import path from "node:path";
import { Session } from "node:inspector/promises";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pino } from "pino";

const here = path.dirname(fileURLToPath(import.meta.url));
const policiesDir = path.resolve(here, "..", "policies");

const snapshot = (cgroup) => ({
  path: cgroup,
  labels: { tier: "critical" },
  memory: {
    version: 2,
    usageBytes: 5e8,
    limitBytes: 1e9,
    swapLimitBytes: null,
    reservationBytes: null,
    highBytes: 8e8,
    swappiness: null,
    oomKillDisable: null,
    underOom: null,
    oomKills: 0,
  },
  cpu: { version: 2, quotaUs: 100_000, periodUs: 100_000, burstUs: null, shares: 1024, weight: 100, usageSeconds: 1 },
  pids: { current: 3, max: null },
});
const throttled = (i) => ({
  kind: "cpu_throttled",
  cgroup: `docker/bench-${i % 100}`,
  at: i * 1000,
  source: "poll",
  periods: { before: i, after: i + 10 },
  throttledPeriods: { before: 0, after: 1 },
  throttledSeconds: { before: 0, after: 0.01 },
  ratio: 0.1,
  intervalSeconds: 1,
});
// Samples 100 s apart: past every cooldown, so each one calls every sampling policy.
const sampled = (i) => ({ kind: "sample", cgroup: `docker/bench-${i % 100}`, at: i * 100_000, source: "poll" });

/** An unlabelled v1 cgroup without a quota: no shipped sampling policy's `sampleOnly` takes it. */
const plain = (cgroup) => ({
  ...snapshot(cgroup),
  labels: {},
  memory: { ...snapshot(cgroup).memory, version: 1 },
  cpu: { ...snapshot(cgroup).cpu, version: 1, quotaUs: null },
});

/** Same events, same snapshots (built beforehand: the daemon builds them outside the engine). */
function inputs(make, n, snap) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const e = make(i);
    out.push([e, snap(e.cgroup)]);
  }
  return out;
}

/** Wall time of the calls (no profiler attached). */
function timed(engine, calls) {
  const t0 = performance.now();
  let policyCalls = 0;
  for (const [e, s] of calls) policyCalls += engine.evaluateDetailed(e, s).length;
  return { ms: performance.now() - t0, policyCalls };
}

/** Bytes the calls allocated on the JS heap (V8's sampling heap profiler: every allocation, collected or not). */
async function allocated(session, engine, calls) {
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 64,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (const [e, s] of calls) engine.evaluateDetailed(e, s);
  const { profile } = await session.post("HeapProfiler.stopSampling");
  let bytes = 0;
  const walk = (n) => {
    bytes += n.selfSize;
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  return bytes;
}

const N = 5000;

async function measure(dist, name, make, snap) {
  const mod = await import(pathToFileURL(path.resolve(dist, "src/policy/engine.js")).href);
  // A build's own policies/ when it has one (a build older than a meta key the shipped policies now use).
  const own = path.resolve(dist, "policies");
  const engine = await mod.createPolicyEngine({
    dirs: [fs.existsSync(own) ? own : policiesDir],
    logger: pino({ level: "silent" }),
  });
  // Warm up (JIT, sandbox first calls, state maps), then time 5 windows and keep the fastest.
  const session = new Session();
  session.connect();
  timed(engine, inputs(make, 3000, snap));
  // Fastest time and least allocation over the windows (another process on the machine only adds to either).
  let best = null;
  for (let r = 0; r < 5; r++) {
    const t = timed(
      engine,
      inputs((i) => make(i + 10_000 * (r + 1)), N, snap),
    );
    const bytes = await allocated(
      session,
      engine,
      inputs((i) => make(i + 10_000 * (r + 1) + 5000), N, snap),
    );
    best =
      best === null
        ? { ...t, bytes }
        : { ms: Math.min(best.ms, t.ms), bytes: Math.min(best.bytes, bytes), policyCalls: t.policyCalls };
  }
  session.disconnect();
  engine.close();
  const n = N;
  return {
    dist,
    scenario: name,
    evaluations: n,
    policyCalls: best.policyCalls,
    evaluationsPerSecond: Math.round(n / (best.ms / 1000)),
    usPerEvaluation: Math.round(((best.ms * 1000) / n) * 10) / 10,
    usPerPolicyCall: best.policyCalls === 0 ? null : Math.round(((best.ms * 1000) / best.policyCalls) * 10) / 10,
    bytesPerEvaluation: Math.round(best.bytes / n),
    bytesPerPolicyCall: best.policyCalls === 0 ? null : Math.round(best.bytes / best.policyCalls),
  };
}

const dists = process.argv.slice(2);
if (dists.length === 0) dists.push(path.resolve(here, "..", "dist"));
for (const d of dists)
  if (!fs.existsSync(path.resolve(d, "src/policy/engine.js"))) throw new Error(`${d}: no src/policy/engine.js`);
const rows = [];
// Interleaved (A B A B) so a machine that slows down mid-run hits both builds alike.
for (const [name, make, snap] of [
  ["cpu_throttled/throttle-burst", throttled, snapshot],
  ["sample/all sampling policies", sampled, snapshot],
  ["sample/v1, no quota, no label", sampled, plain],
]) {
  for (let round = 0; round < 2; round++) for (const d of dists) rows.push(await measure(d, name, make, snap));
}
process.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
