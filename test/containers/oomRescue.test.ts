/**
 * Seed scenario, the headline: `docker run -m 50m --oom-kill-disable` with a
 * program that needs 300 MB. Nothing kills it; its tasks stall under_oom
 * until someone raises the limit. cgwatch runs with the SHIPPED config
 * (oom-rescue with its default params, the default guardrails and
 * cooldowns): the hog must finish (exit 0) however many raises it takes,
 * within seconds, and no stall may be left unanswered. Then the same with
 * --memory-swap set, where every raise must move memsw first (v1 refuses a
 * limit above memory+swap).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildDist, sample, startCgwatch, type Cgwatch, type LogLine } from "../helpers/cgwatchRun.js";
import { describeContainers, startEngine, type Engine } from "../helpers/podman.js";

const MB = 1024 * 1024;
const HOG_MB = 300;
const ms = (l: LogLine | undefined): number => (l === undefined ? NaN : Date.parse(String(l["time"])));

describeContainers(
  "-m 50m --oom-kill-disable + a 300 MB hog, shipped config: rescued however many raises it takes",
  () => {
    let engine: Engine;
    let cgwatch: Cgwatch | undefined;
    beforeAll(async () => {
      buildDist();
      engine = await startEngine("rescue");
    }, 180_000);
    afterAll(async () => {
      await cgwatch?.stop().catch(() => undefined);
      await engine?.close();
    }, 120_000);

    const scenario = (flags: readonly string[], memswBytes: number) => async (): Promise<void> => {
      // A fresh cgwatch per scenario: the guardrails' rate limit (burst 10 per
      // minute, all cgroups) would otherwise carry over from the previous one.
      await cgwatch?.stop();
      cgwatch = await startCgwatch({ watch: [`${engine.parent}/*`] });
      const cg = cgwatch;
      const c = await engine.run({
        flags: ["-m", "50m", "--oom-kill-disable", ...flags],
        command: ["/bin/hog", String(HOG_MB)],
      });
      const mine = (l: LogLine): boolean =>
        l["cgroup"] === c.cgroup || (l["event"] as { cgroup?: string } | undefined)?.cgroup === c.cgroup;
      // Generous: the machine is shared; the figure is measured in `npm run bench`.
      const exit = await c.wait(60_000).catch((e: unknown) => {
        const oc = c.read("memory", "memory.oom_control").replace(/\n/g, " ");
        throw new Error(
          `${String(e)}; still ${oc}, limit ${c.read("memory", "memory.limit_in_bytes")}; cgwatch said:\n${cg
            .lines()
            .filter(mine)
            .map((l) => `${JSON.stringify([l["time"], l.msg, l["outcome"], l["reason"]])}`)
            .join("\n")}`,
        );
      });
      const finished = Date.now();
      expect(exit).toBe(0);
      expect(await c.logs()).toContain(`hog: done ${HOG_MB} MB`);

      const lines = cg.lines().filter(mine);
      const stalls = lines.filter(
        (l) => l.msg === `under_oom in ${c.cgroup}` && (l["event"] as { underOom: boolean }).underOom,
      );
      const raises = lines.filter((l) => l.msg === "action decision" && l["action"] === "set_memory_limit");
      const applied = raises.filter((l) => l["outcome"] === "applied");
      // What the engine set, as the executor read it before the first raise
      // (the container stalls, and is raised, before a test could read it).
      expect(applied[0]?.["before"]).toBe(
        `memory.memsw.limit_in_bytes=${memswBytes}; memory.limit_in_bytes=${50 * MB}`,
      );
      process.stdout.write(
        `decisions: ${JSON.stringify(raises.map((l) => [l["outcome"], l["guardrail"] ?? l["reason"] ?? l["after"]]))}\n`,
      );
      // No raise failed (memsw ordering: v1 answers EINVAL when the limit would pass memsw).
      expect(raises.filter((l) => l["outcome"] === "failed")).toEqual([]);
      // 50 MB → 300+ MB in steps of 25%: several raises, the last one past the hog's need.
      expect(applied.length).toBeGreaterThanOrEqual(8);
      // The executor's read-back after the last raise: "memory.memsw.limit_in_bytes=N; memory.limit_in_bytes=M".
      const readBack = new Map(
        ((applied.at(-1)?.["after"] as string | undefined) ?? "")
          .split("; ")
          .map((kv) => kv.split("=") as [string, string]),
      );
      const limit = Number(readBack.get("memory.limit_in_bytes"));
      expect(limit).toBeGreaterThanOrEqual(HOG_MB * MB);
      // memsw moved with the limit (first, or v1 would have refused the limit).
      expect(Number(readBack.get("memory.memsw.limit_in_bytes"))).toBeGreaterThanOrEqual(limit);
      await cg.scrape(); // a new series shows 0 on its first scrape (so increase() sees the step)
      const text = await cg.scrape();
      expect(
        sample(text, "cgwatch_actions_total", { policy: "oom-rescue", action: "set_memory_limit", outcome: "applied" }),
      ).toBeGreaterThanOrEqual(applied.length);
      const firstStall = ms(stalls[0]);
      process.stdout.write(
        `rescue ${flags.join(" ") || "(-m only)"}: ${stalls.length} stall event(s), ${applied.length} raises applied (${raises.length} proposed), stall → first raise applied ${ms(applied[0]) - firstStall} ms, stall → hog finished ${finished - firstStall} ms (log-line ms resolution)\n`,
      );
    };

    it(
      "-m 50m: memsw defaults to 2× the limit, so raises past 100 MB move memsw first",
      scenario([], 100 * MB),
      120_000,
    );
    it("--memory-swap 60m: memsw ordering from the first raise", scenario(["--memory-swap", "60m"], 60 * MB), 120_000);
  },
);
