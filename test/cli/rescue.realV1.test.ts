/**
 * The rescue as operators run it: `cgwatch run` (a child process) with the
 * SHIPPED policies, default params and default guardrails, watching one
 * scratch cgroup of 50M with oom_kill_disable, and a process in it that
 * needs about three times that. Every raise lets the hog run into the new
 * limit and stall again; the test passes only when the hog finishes (exit 0)
 * however many raises that takes. Before the "standing emergency" rule the
 * second stall was never answered: the read still said under_oom 1 (no edge)
 * and both 30 s cooldowns were running, so the hog stayed in D state.
 */
import { afterEach, beforeAll, expect, it } from "vitest";
import { buildDist, runCgwatch, waitFor } from "../helpers/cliRun.js";
import { createScratchCgroup, describeRealV1, hogArgs, waitExit, type ScratchCgroup } from "../helpers/realCgroup.js";

const MB = 1024 * 1024;

beforeAll(buildDist, 120_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describeRealV1("the under_oom rescue, end to end", ["memory"], () => {
  it("a 50M cgroup with oom_kill_disable and a hog needing ~3x: shipped policies and defaults raise it as often as needed; the hog exits 0", async () => {
    const scratch: ScratchCgroup = createScratchCgroup(["memory"], "rescue");
    cleanups.push(() => scratch.remove());
    scratch.write("memory", "memory.limit_in_bytes", String(50 * MB));
    scratch.write("memory", "memory.oom_control", "1");
    const run = runCgwatch([`watch: [ ${JSON.stringify(scratch.cgroup)} ]`]);
    cleanups.push(() => run.cleanup());
    await waitFor(() => run.out().includes("ready: first scan complete"), "ready");

    const [cmd, args] = hogArgs(150, 1);
    const hog = scratch.spawnInside(cmd, args, 60_000);
    let hogOut = "";
    hog.stdout?.on("data", (d: Buffer) => (hogOut += d.toString()));
    const exit = await waitExit(hog);
    const decisions = run.lines().filter((l) => l["msg"] === "action decision" && l["policy"] === "oom-rescue");
    const applied = decisions.filter((l) => l["outcome"] === "applied");
    expect({ exit, hogOut: hogOut.trim() }, `decisions: ${JSON.stringify(decisions)}`).toEqual({
      exit: { code: 0, signal: null },
      hogOut: "done",
    });
    // It took several raises (each one a new stall), none rejected, all from the shipped policy.
    expect(applied.length).toBeGreaterThanOrEqual(3);
    expect(decisions.filter((l) => l["outcome"] !== "applied")).toEqual([]);
    expect(Number(scratch.read("memory", "memory.limit_in_bytes"))).toBeGreaterThan(150 * MB);
    expect(scratch.read("memory", "memory.oom_control")).toMatch(/under_oom 0/);
    // The recovery was reported too.
    await waitFor(
      () =>
        run
          .lines()
          .some(
            (l) =>
              l["msg"] === `under_oom in ${scratch.cgroup}` &&
              (l["event"] as { underOom?: boolean }).underOom === false,
          ),
      "the recovery event",
    );
  }, 90_000);

  it("a stall the rescue cannot answer (oom-rescue at its ceiling) is never silent: logged, counted, re-offered while it lasts", async () => {
    const scratch: ScratchCgroup = createScratchCgroup(["memory"], "stuck");
    cleanups.push(() => scratch.remove());
    scratch.write("memory", "memory.limit_in_bytes", String(50 * MB));
    scratch.write("memory", "memory.oom_control", "1");
    const run = runCgwatch([
      `watch: [ ${JSON.stringify(scratch.cgroup)} ]`,
      "policies:",
      "  params:",
      "    oom-rescue: { ceilingBytes: 50m }",
    ]);
    cleanups.push(() => run.cleanup());
    await waitFor(() => run.out().includes("ready: first scan complete"), "ready");
    const url = run.lines().find((l) => l["msg"] === "metrics listening")?.["url"] as string;
    const [cmd, args] = hogArgs(100, 1);
    const hog = scratch.spawnInside(cmd, args, 30_000);
    const notRescued = () =>
      run.lines().filter((l) => l["msg"] === "under_oom stall not rescued; it is offered again while it lasts");
    // The first offer, then re-offers after 1 s and 2 s: at least three lines within ~4 s of the stall.
    await waitFor(() => notRescued().length >= 3, "three unanswered offers", 20_000);
    expect(notRescued()[0]).toMatchObject({ cgroup: scratch.cgroup, outcome: "no_action" });
    expect(String((notRescued()[0]?.["reasons"] as string[])[0])).toMatch(/oom-rescue: proposed no action/);
    expect(
      notRescued()
        .map((l) => l["stalledMs"] as number)
        .every((ms, i, all) => i === 0 || ms >= (all[i - 1] ?? 0)),
      JSON.stringify(run.lines().filter((l) => String(l["msg"]).includes("under_oom"))),
    ).toBe(true);
    const text = await (await fetch(`${url}/metrics`)).text();
    const count = Number(/cgwatch_oom_stall_outcomes_total\{outcome="no_action"\} (\d+)/.exec(text)?.[1] ?? "0");
    expect(count).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(new RegExp(`cgwatch_under_oom\\{cgroup="${scratch.cgroup}"[^}]*\\} 1`));
    // The hog is still stalled, not killed: lift the limit by hand and it finishes; the recovery is an event.
    expect(hog.exitCode).toBeNull();
    scratch.write("memory", "memory.limit_in_bytes", String(200 * MB));
    expect(await waitExit(hog)).toEqual({ code: 0, signal: null });
    await waitFor(
      () =>
        run
          .lines()
          .some(
            (l) =>
              l["msg"] === `under_oom in ${scratch.cgroup}` &&
              (l["event"] as { underOom?: boolean }).underOom === false,
          ),
      "the recovery event",
    );
  }, 90_000);
});
