/**
 * The real-container rescue figure: `podman run -m 50m --oom-kill-disable`
 * (podman + runc, test/helpers/podman.ts) with a hog that needs 300 MB, so
 * the kernel stalls it again and again and oom-rescue (shipped config,
 * default params: +25% per raise) must raise the limit ~9 times. cgwatch
 * runs as `cgwatch run`, a fresh instance per repetition (the guardrails'
 * rate limit is a per-minute bucket for all cgroups). Measured, per
 * repetition, on wall-clock ms (cgwatch's log line times and the hog's own
 * clock, both the host's CLOCK_REALTIME):
 *  - stall → first raise applied: the first `under_oom` log line to the
 *    first applied `set_memory_limit` decision;
 *  - stall → hog finished: the first `under_oom` line to the hog's
 *    "done at T ms" (it then holds 300 MB: every raise happened before).
 */
import { startCgwatch, type LogLine } from "../test/helpers/cgwatchRun.js";
import { containerEngineUnavailable, startEngine } from "../test/helpers/podman.js";

export interface ContainerRescueRun {
  readonly hogMb: number;
  readonly reps: readonly {
    readonly stalls: number;
    readonly raises: number;
    readonly stallToFirstRaiseMs: number;
    readonly stallToHogDoneMs: number;
  }[];
}

const wall = (l: LogLine | undefined): number => (l === undefined ? NaN : Date.parse(String(l["time"])));

export async function containerRescueRun(args: { reps: number; hogMb: number }): Promise<ContainerRescueRun> {
  const missing = containerEngineUnavailable();
  if (missing !== null) throw new Error(`container engine unavailable: ${missing}`);
  const engine = await startEngine("bench");
  const reps: ContainerRescueRun["reps"][number][] = [];
  try {
    for (let i = 0; i < args.reps; i++) {
      const cg = await startCgwatch({ watch: [`${engine.parent}/*`] });
      try {
        const c = await engine.run({
          flags: ["-m", "50m", "--oom-kill-disable"],
          command: ["/bin/hog", String(args.hogMb)],
        });
        const exit = await c.wait(120_000);
        const out = await c.logs();
        const done = /hog: done \d+ MB at (\d+) ms/.exec(out)?.[1];
        if (exit !== 0 || done === undefined) throw new Error(`hog did not finish (exit ${exit}): ${out}`);
        const mine = cg
          .lines()
          .filter(
            (l) => l["cgroup"] === c.cgroup || (l["event"] as { cgroup?: string } | undefined)?.cgroup === c.cgroup,
          );
        const stalls = mine.filter(
          (l) => l.msg === `under_oom in ${c.cgroup}` && (l["event"] as { underOom?: boolean }).underOom === true,
        );
        const raises = mine.filter(
          (l) => l.msg === "action decision" && l["action"] === "set_memory_limit" && l["outcome"] === "applied",
        );
        const first = wall(stalls[0]);
        reps.push({
          stalls: stalls.length,
          raises: raises.length,
          stallToFirstRaiseMs: wall(raises[0]) - first,
          stallToHogDoneMs: Number(done) - first,
        });
        await c.remove();
      } finally {
        await cg.stop().catch(() => undefined);
      }
    }
  } finally {
    await engine.close();
  }
  return { hogMb: args.hogMb, reps };
}
