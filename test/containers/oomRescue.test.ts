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

describeContainers("-m 50m --oom-kill-disable + a 300 MB hog, shipped config: rescued however many raises it takes", () => {
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
    cgwatch ??= await startCgwatch({ watch: [`${engine.parent}/*`] });
    const cg = cgwatch;
    const c = await engine.run({ flags: ["-m", "50m", "--oom-kill-disable", ...flags], command: ["/bin/hog", String(HOG_MB)] });
    expect(Number(c.read("memory", "memory.memsw.limit_in_bytes"))).toBe(memswBytes);
    const mine = (l: LogLine): boolean => l["cgroup"] === c.cgroup || (l["event"] as { cgroup?: string } | undefined)?.cgroup === c.cgroup;
    // Generous: the machine is shared; the figure is measured in `npm run bench`.
    const exit = await c.wait(60_000).catch((e: unknown) => {
      const oc = c.read("memory", "memory.oom_control").replace(/\n/g, " ");
      throw new Error(`${String(e)}; still ${oc}, limit ${c.read("memory", "memory.limit_in_bytes")}; cgwatch said:\n${cg.lines().filter(mine).map((l) => `${JSON.stringify([l["time"], l.msg, l["outcome"], l["reason"]])}`).join("\n")}`);
    });
    const finished = Date.now();
    expect(exit).toBe(0);
    expect(await c.logs()).toContain(`hog: done ${HOG_MB} MB`);

    const lines = cg.lines().filter(mine);
    const stalls = lines.filter((l) => l.msg === `under_oom in ${c.cgroup}` && (l["event"] as { underOom: boolean }).underOom);
    const raises = lines.filter((l) => l.msg === "action decision" && l["action"] === "set_memory_limit");
    // Every raise was applied: none rejected by a guardrail or cooldown, none failed on memsw ordering.
    expect(raises.map((l) => l["outcome"])).toEqual(raises.map(() => "applied"));
    // 50 MB → 300+ MB in steps of 25%: several raises.
    expect(raises.length).toBeGreaterThanOrEqual(8);
    const limit = Number(c.read("memory", "memory.limit_in_bytes"));
    expect(limit).toBeGreaterThanOrEqual(HOG_MB * MB);
    expect(Number(c.read("memory", "memory.memsw.limit_in_bytes"))).toBeGreaterThanOrEqual(limit);
    expect(c.read("memory", "memory.oom_control")).toMatch(/under_oom 0/);
    const text = await cg.scrape();
    expect(sample(text, "cgwatch_actions_total", { policy: "oom-rescue", action: "set_memory_limit", outcome: "applied" })).toBeGreaterThanOrEqual(raises.length);
    const firstStall = ms(stalls[0]);
    process.stdout.write(
      `rescue ${flags.join(" ") || "(-m only)"}: ${stalls.length} stall event(s), ${raises.length} raises, stall → first raise applied ${ms(raises[0]) - firstStall} ms, stall → hog finished ${finished - firstStall} ms (log-line ms resolution)\n`,
    );
  };

  it("-m 50m: memsw defaults to 2× the limit, so raises past 100 MB move memsw first", scenario([], 100 * MB), 120_000);
  it("--memory-swap 60m: memsw ordering from the first raise", scenario(["--memory-swap", "60m"], 60 * MB), 120_000);
});
