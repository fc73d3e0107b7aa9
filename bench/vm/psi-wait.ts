/**
 * Where a PSI wake waits in the daemon, measured INSIDE the QEMU guest
 * (bench/vm/psi-wait.sh; not part of `npm run bench` nor of the suite).
 * A cgroup held at memory.high by a hog (sustained throttling: memory.events
 * changes every few ms), the daemon as shipped but traced
 * (bench/vm/traced-daemon.ts), and an independent trigger with the same
 * parameters as the reference clock. For each reference wake:
 *   kernel wake → the daemon's fd callback (`at`) → handling starts → policy
 *   call → handled,
 * all on CLOCK_MONOTONIC, and what the daemon was doing when the kernel woke
 * it (the event it was handling, and how many it handled before the wake's).
 * Prints one PSI-WAIT line (JSON) and writes it to argv[3].
 */
import fs from "node:fs";
import path from "node:path";
import { GuestCgroup, sleep, startDaemon, waitFor } from "../../test/vm/guest/guest.js";
import { referenceTrigger } from "../../test/vm/guest/psiref.js";

const MiB = 1024 * 1024;

interface Handled {
  readonly kind: string;
  readonly cgroup: string;
  readonly at: number;
  readonly start: number;
  readonly wanted: number | null;
  readonly policyStart: number | null;
  readonly policyEnd: number | null;
  readonly end: number;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;
function stats(xs: readonly number[]): { n: number; median: number; p90: number; max: number } {
  const v = [...xs].sort((a, b) => a - b);
  const rank = (q: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))] ?? NaN;
  return { n: v.length, median: r1(rank(0.5)), p90: r1(rank(0.9)), max: r1(v[v.length - 1] ?? NaN) };
}

async function main(): Promise<void> {
  const wakesWanted = Number(process.argv[2] ?? "12");
  const out = process.argv[3] ?? "psi-wait.json";
  const siblings = Number(process.argv[4] ?? "0");
  const cg = new GuestCgroup("psiwait");
  cg.write("memory.high", String(24 * MiB));
  // More cgroups throttled at memory.high in the same daemon: more memory_high events, more policy calls.
  const others = Array.from({ length: siblings }, () => new GuestCgroup("psiwait-sib"));
  for (const o of others) o.write("memory.high", String(16 * MiB));
  let traceFile = "";
  const daemon = await startDaemon(
    [
      `watch: [${[cg, ...others].map((c) => JSON.stringify(c.cgroup)).join(", ")}]`,
      `psi:`,
      `  memory: some 150ms 1s`,
      `sampleInterval: 1h`,
      `safetyNetInterval: 1h`,
      `policies:`,
      `  deadline: 1s`,
      `metrics:`,
      `  listen: 127.0.0.1:0`,
      `log:`,
      `  level: debug`,
    ],
    180_000,
    (config, dir) => {
      traceFile = path.join(dir, "trace.jsonl");
      return [path.join(process.cwd(), "dist/bench/vm/traced-daemon.js"), config, traceFile];
    },
  );
  const ref = referenceTrigger(cg.file("memory.pressure"), "some 150000 1000000");
  await ref.ready;
  const hog = cg.memoryHog(96, 150, 180_000);
  const sibHogs = others.map((o) => o.memoryHog(64, 150, 180_000));
  try {
    await waitFor(
      () => daemon.alive() && (ref.wakes.length >= wakesWanted || hog.child.exitCode !== null),
      180_000,
      `${wakesWanted} reference wakes`,
    );
    await sleep(1500);
    const trace = fs
      .readFileSync(traceFile, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Handled);
    const wakes = ref.wakes.slice(0, wakesWanted);
    const perWake = wakes.map((w, i) => {
      const next = wakes[i + 1] ?? w + 1000;
      const p = trace.find((h) => h.kind === "memory_pressure" && h.at >= w - 100 && h.at < next);
      const busy = trace.find((h) => h.start <= w && h.end > w);
      const before = p === undefined ? [] : trace.filter((h) => h.start > w && h.start < p.start);
      return {
        wakeToCallback: p === undefined ? null : r1(p.at - w),
        callbackToHandled: p === undefined ? null : r1(p.start - p.at),
        handledToPolicy: p?.policyStart == null ? null : r1(p.policyStart - p.start),
        policyMs: p?.policyStart == null || p.policyEnd == null ? null : r1(p.policyEnd - p.policyStart),
        busyWith:
          busy === undefined
            ? null
            : {
                kind: busy.kind,
                remainingMs: r1(busy.end - w),
                policyMs:
                  busy.policyStart === null || busy.policyEnd === null ? null : r1(busy.policyEnd - busy.policyStart),
              },
        handledBefore: before.map((h) => h.kind),
      };
    });
    const span = (trace[trace.length - 1]?.end ?? 0) - (trace.find((h) => h.start >= (wakes[0] ?? 0))?.start ?? 0);
    const during = trace.filter((h) => h.start >= (wakes[0] ?? 0));
    const high = during.filter((h) => h.kind === "memory_high");
    const followUps = during.filter((h) => h.kind.endsWith("follow-up"));
    const result = {
      wakes: wakes.length,
      siblings,
      eventLagMs: stats(
        perWake.flatMap((w) => (w.wakeToCallback === null ? [] : [w.wakeToCallback + (w.callbackToHandled ?? 0)])),
      ),
      wakeToCallbackMs: stats(perWake.flatMap((w) => (w.wakeToCallback === null ? [] : [w.wakeToCallback]))),
      callbackToHandledMs: stats(perWake.flatMap((w) => (w.callbackToHandled === null ? [] : [w.callbackToHandled]))),
      missed: perWake.filter((w) => w.wakeToCallback === null).length,
      memoryHighPerSecond: r1(high.length / (span / 1000)),
      memoryHighHandleMs: stats(high.map((h) => h.end - h.start)),
      policyFollowUps: followUps.length,
      followUpPolicyMs: stats(followUps.map((h) => h.end - h.start)),
      memoryHighPolicyMs: stats(
        high.flatMap((h) => (h.policyStart === null || h.policyEnd === null ? [] : [h.policyEnd - h.policyStart])),
      ),
      // memory_pressure handles of every cgroup: before the policy call (log, snapshot), the call, after it (the actions).
      pressureHandles: during
        .filter((h) => h.kind === "memory_pressure" && h.policyStart !== null && h.policyEnd !== null)
        .map((h) => ({
          cgroup: h.cgroup.split("/").pop(),
          beforeMs: r1((h.policyStart ?? 0) - h.start),
          policyMs: r1((h.policyEnd ?? 0) - (h.policyStart ?? 0)),
          actionsMs: r1(h.end - (h.policyEnd ?? 0)),
        })),
      loopBusyInHandles: r1(during.reduce((s, h) => s + (h.end - h.start), 0) / span),
      perWake,
    };
    const line = JSON.stringify(result);
    console.log(`PSI-WAIT ${line}`);
    fs.writeFileSync(out, `${line}\n`);
  } finally {
    hog.kill();
    for (const h of sibHogs) h.kill();
    ref.stop();
    await daemon.stop();
    await cg.remove();
    for (const o of others) await o.remove();
  }
}

main().catch((err: unknown) => {
  console.error(`psi-wait failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
