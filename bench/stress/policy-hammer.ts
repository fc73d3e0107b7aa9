/**
 * Drives the policy engine with the shipped policies as fast as it will go
 * for N seconds: memory_pressure and sample events with changing snapshots.
 * Not a benchmark figure: a stress run used to tell a crash in cgwatch's
 * native addon from one in V8's WebAssembly JIT (see docs/vm-tier.md).
 *   node dist/bench/stress/policy-hammer.js [seconds]
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { CgroupSnapshot } from "../../src/cgroup/snapshot.js";
import type { WatchdogEvent } from "../../src/events/types.js";
import { createPolicyEngine } from "../../src/policy/engine.js";

const seconds = Number(process.argv[2] ?? "60");
const policies = process.argv[3] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../policies");

// A clock that jumps a minute per read: every cooldown has always expired,
// so every event reaches QuickJS.
let fakeNow = 0;
const engine = await createPolicyEngine({
  dirs: [policies],
  logger: pino({ level: "silent" }),
  clock: () => (fakeNow += 60_000),
});
const end = performance.now() + seconds * 1000;
let calls = 0;
let proposals = 0;
let i = 0;
while (performance.now() < end) {
  i++;
  const cgroup = `hammer/c${i % 64}`;
  const usage = 16 * 2 ** 20 + (i % 4096) * 4096;
  const snapshot: CgroupSnapshot = {
    path: cgroup,
    labels: { tier: i % 3 === 0 ? "critical" : "best-effort" },
    memory: {
      version: 2,
      usageBytes: usage,
      limitBytes: 64 * 2 ** 20,
      swapLimitBytes: null,
      reservationBytes: 8 * 2 ** 20,
      highBytes: 48 * 2 ** 20,
      swappiness: null,
      oomKillDisable: null,
      underOom: null,
      oomKills: 0,
    },
    cpu: {
      version: 2,
      quotaUs: 20000,
      periodUs: 100000,
      burstUs: 0,
      shares: 1024,
      weight: 100,
      usageSeconds: i / 1000,
    },
    pids: { current: 3, max: 100 },
  };
  const at = fakeNow;
  const events: WatchdogEvent[] = [
    {
      kind: "memory_pressure",
      cgroup,
      at,
      source: "psi",
      resource: "memory",
      trigger: "some 20000 1000000",
      someAvg10: (i % 97) / 3,
      fullAvg10: (i % 13) / 3,
    },
    { kind: "sample", cgroup, at, source: "poll", someAvg10: (i % 50) / 2 },
    { kind: "memory_high", cgroup, at, source: "inotify", counter: { before: i, after: i + 1 } },
    {
      kind: "cpu_throttled",
      cgroup,
      at,
      source: "poll",
      periods: { before: i * 10, after: i * 10 + 10 },
      throttledPeriods: { before: i * 5, after: i * 5 + 9 },
      throttledSeconds: { before: i / 10, after: i / 10 + 0.5 },
      ratio: 0.9,
      intervalSeconds: 1,
    },
  ];
  for (const e of events) {
    proposals += engine.evaluate(e, snapshot).length;
    calls++;
  }
}
engine.close();
process.stdout.write(
  `hammer: ${calls} events in ${seconds}s (${Math.round(calls / seconds)}/s), ${proposals} proposals, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB: survived\n`,
);
