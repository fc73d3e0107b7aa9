/**
 * The v2 pressure figures of `npm run bench`, measured INSIDE the QEMU guest
 * (real cgroup v2, kernel 6.1) by bench/vm/psi-guest.sh: the daemon as
 * shipped, and per repetition a fresh cgroup (memory.high 24M, memory.max
 * 64M) with a 48 MiB python hog that the kernel throttles. Two paths, each
 * timed from an independent observer of the kernel to the daemon's log:
 *  - PSI: a separate process's trigger (`some 150000 1000000`, the daemon's
 *    own) wakes → cgwatch's memory_pressure event → pressure-relief's
 *    set_memory_high applied;
 *  - memory.events: this process's fs.watch sees `high` leave 0 → cgwatch's
 *    memory_high event → oom-rescue's set_memory_limit applied.
 * Wall-clock ms (the daemon logs ISO times with ms). TCG inflates them all.
 */
import fs from "node:fs";
import { execFileSync } from "node:child_process";
import {
  GuestCgroup,
  lineTime,
  sleep,
  startDaemon,
  waitFor,
  type GuestDaemon,
  type LogLine,
} from "../../test/vm/guest/guest.js";
import { referenceTrigger } from "../../test/vm/guest/psiref.js";

const MiB = 1024 * 1024;

export interface VmPsiRep {
  /** From the kernel (independent observer) to the daemon's event, and to the applied action; null when it never came. */
  readonly psiEventMs: number | null;
  readonly psiActionMs: number | null;
  readonly highEventMs: number | null;
  readonly highActionMs: number | null;
  /** memory.pressure `some avg10` the first memory_pressure event carried: what a decision on avg10 would have seen. */
  readonly avg10AtFirstFiring: number | null;
}

export interface VmPsiResult {
  readonly kernel: string;
  readonly reps: readonly VmPsiRep[];
}

function armed(pid: number, file: string): boolean {
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file) return true;
    } catch {
      /* closed meanwhile */
    }
  }
  return false;
}

const eventOf = (l: LogLine): Record<string, unknown> => (l["event"] ?? {}) as Record<string, unknown>;

async function oneRep(daemon: GuestDaemon): Promise<VmPsiRep> {
  const cg = new GuestCgroup("psib");
  try {
    cg.write("memory.max", String(64 * MiB));
    cg.write("memory.high", String(24 * MiB));
    const pid = daemon.child.pid ?? 0;
    await waitFor(
      () => daemon.alive() && armed(pid, cg.file("memory.pressure")),
      60_000,
      "the daemon to arm its trigger",
      20,
    );
    const ref = referenceTrigger(cg.file("memory.pressure"), "some 150000 1000000");
    await ref.ready;
    let kernelHigh: number | null = null;
    const w = fs.watch(cg.file("memory.events"), () => {
      if (kernelHigh === null && cg.counter("memory.events", "high") > 0) kernelHigh = Date.now();
    });
    const hog = cg.memoryHog(48, 30, 60_000);
    const mine = (msg: string, pred: (l: LogLine) => boolean = () => true): LogLine[] =>
      daemon.lines.filter(
        (l) => l["msg"] === msg && (l["cgroup"] === cg.cgroup || eventOf(l)["cgroup"] === cg.cgroup) && pred(l),
      );
    const applied = (policy: string, event: string) => (l: LogLine) =>
      l["policy"] === policy && l["event"] === event && l["outcome"] === "applied";
    try {
      await waitFor(
        () =>
          daemon.alive() &&
          ref.wallWakes.length > 0 &&
          kernelHigh !== null &&
          mine("action decision", applied("pressure-relief", "memory_pressure")).length > 0 &&
          mine("action decision", applied("oom-rescue", "memory_high")).length > 0,
        40_000,
        "both paths to act",
        50,
      );
    } catch {
      /* recorded as null below */
    }
    w.close();
    hog.kill();
    await hog.exited;
    ref.stop();
    const kPsi = ref.wallWakes[0] ?? null;
    const since = (k: number | null, lines: LogLine[]): number | null => {
      if (k === null) return null;
      const t = lines.map(lineTime).find((x) => x >= k - 100);
      return t === undefined ? null : t - k;
    };
    const firstPressure = mine("memory_pressure")[0];
    const avg10 = firstPressure === undefined ? null : Number(eventOf(firstPressure)["someAvg10"]);
    return {
      psiEventMs: since(kPsi, mine("memory_pressure")),
      psiActionMs: since(kPsi, mine("action decision", applied("pressure-relief", "memory_pressure"))),
      highEventMs: since(kernelHigh, mine("memory_high")),
      highActionMs: since(kernelHigh, mine("action decision", applied("oom-rescue", "memory_high"))),
      avg10AtFirstFiring: avg10,
    };
  } finally {
    await cg.remove();
  }
}

async function main(): Promise<void> {
  const reps = Number(process.argv[2] ?? "8");
  const out = process.argv[3] ?? "psi.json";
  const daemon = await startDaemon([
    `watch: ["cgwatch-vmtest/psib-*"]`,
    `psi:`,
    `  memory: some 150ms 1s`,
    `sampleInterval: 1h`,
    `safetyNetInterval: 1h`,
    `policies:`,
    `  deadline: 1s`,
    `  params:`,
    `    oom-rescue: { nearRatio: 0.3 }`,
    `    pressure-relief: { minHighBytes: 8m }`,
    `metrics:`,
    `  listen: 127.0.0.1:0`,
    `log:`,
    `  level: debug`,
  ]);
  const results: VmPsiRep[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      const rep = await oneRep(daemon);
      console.log(`BENCH-PSI rep ${i + 1}/${reps} ${JSON.stringify(rep)}`);
      results.push(rep);
      await sleep(500);
    }
  } finally {
    await daemon.stop();
  }
  const result: VmPsiResult = { kernel: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(), reps: results };
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(`bench psi guest failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
