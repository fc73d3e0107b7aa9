/**
 * The whole daemon — watch loop, QuickJS policy, guardrails, guarded write,
 * metrics, logs — against a fake v2 cgroupfs, where inotify runs for real.
 */
import { afterEach, describe, expect, it } from "vitest";
import { fakeHost, type FakeHost } from "./helpers/fakeCgroupfs.js";
import { startHarness, until, type Harness } from "./helpers/daemonHarness.js";

const RAISE_ON_OOM = `
export const meta = { name: "raise-on-oom", on: ["oom_kill"], match: ["docker/*"], cooldown: "0s", params: { step: 1048576 } };
export function onEvent(event, cgroup, ctx) {
  ctx.state.seen = (ctx.state.seen || 0) + 1;
  return [{ kind: "set_memory_limit", bytes: cgroup.memory.limitBytes + ctx.params.step * ctx.state.seen }];
}
`;

const memEvents = (kills: number): string =>
  `low 0\nhigh 0\nmax ${kills}\noom ${kills}\noom_kill ${kills}\noom_group_kill 0\n`;

let host: FakeHost | null = null;
let harness: Harness | null = null;
afterEach(async () => {
  await harness?.stop();
  harness = null;
  host?.cleanup();
  host = null;
});

const YAML = `
watch:
  - pattern: "docker/*"
    labels: { tier: critical }
policies:
  builtin: false
  dirs: [ "$POLICY_DIR" ]
pollInterval: 100ms
safetyNetInterval: 1s
guardrails:
  cooldown: 0s
  memory:
    floor: 1M
    maxStepPercent: 100
psi:
  memory: "off"
`;

describe("daemon on a fake v2 cgroupfs", () => {
  it("an oom_kill in memory.events reaches the policy and the memory.max write lands, once per kill", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web", { "memory.max": "104857600\n", "memory.current": "104857600\n" });
    harness = await startHarness({ layout: host.layout, yaml: YAML, policies: { "raise.js": RAISE_ON_OOM } });
    expect(await harness.daemon.ready).toBe(1);
    host.write("docker/web", "memory.events", memEvents(1));
    await until(() => harness?.actions.length === 1, 10_000, "first action");
    expect(host.read("docker/web", "memory.max").trim()).toBe(String(104857600 + 1048576));
    expect(harness.actions[0]?.outcome.kind).toBe("applied");
    // Two more kills behind one notification: one event (delta 2), one call, state persisted.
    host.write("docker/web", "memory.events", memEvents(3));
    await until(() => harness?.actions.length === 2, 10_000, "second action");
    expect(host.read("docker/web", "memory.max").trim()).toBe(String(104857600 + 1048576 + 2 * 1048576));
    const kills = harness.events.filter((e) => e.kind === "oom_kill");
    expect(kills.map((e) => ("counter" in e ? [e.counter.before, e.counter.after] : null))).toEqual([
      [0, 1],
      [1, 3],
    ]);
    // Exactly one decision log line per proposal.
    const decisions = harness.logs.filter((l) => l["msg"] === "action decision");
    expect(decisions).toHaveLength(2);
    // Metrics mirror the kernel counter.
    const text = await harness.daemon.metrics.render();
    expect(text).toMatch(/cgwatch_memory_events_total\{cgroup="docker\/web",event="oom_kill"\} 3/);
    // cgwatch's own counters show their value from the first scrape (no held 0).
    expect(text).toMatch(/cgwatch_actions_total\{[^}]*outcome="applied"[^}]*\} 2/);
  });

  it("never watches its own cgroup nor an excluded one, even when the pattern matches them", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web", { "memory.max": "104857600\n" });
    host.addCgroup("docker/cgwatch", { "memory.max": "104857600\n" });
    host.addCgroup("docker/skipped", { "memory.max": "104857600\n" });
    harness = await startHarness({
      layout: host.layout,
      yaml: `${YAML}exclude: [ "docker/skipped" ]\n`,
      policies: { "raise.js": RAISE_ON_OOM },
      ownCgroups: ["docker/cgwatch"],
    });
    expect(await harness.daemon.ready).toBe(1);
    expect(harness.daemon.status().map((s) => s.cgroup)).toEqual(["docker/web"]);
    // An OOM kill in cgwatch's own cgroup is not cgwatch's to act on: the
    // kill in docker/web after it is the only event and the only action.
    host.write("docker/cgwatch", "memory.events", memEvents(1));
    host.write("docker/skipped", "memory.events", memEvents(1));
    host.write("docker/web", "memory.events", memEvents(1));
    await until(() => harness?.actions.length === 1, 10_000, "the action in docker/web");
    expect(harness.events.filter((e) => e.cgroup !== "docker/web")).toEqual([]);
    expect(host.read("docker/cgwatch", "memory.max")).toBe("104857600\n");
  });

  it("a hostile policy fails alone: the healthy one still acts", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web", { "memory.max": "104857600\n" });
    harness = await startHarness({
      layout: host.layout,
      yaml: YAML,
      policies: {
        "raise.js": RAISE_ON_OOM,
        "spin.js": `export const meta = { name: "spin", on: ["oom_kill"], match: ["**"] };\nexport function onEvent() { for (;;) {} }\n`,
      },
    });
    await harness.daemon.ready;
    host.write("docker/web", "memory.events", memEvents(1));
    await until(() => harness?.actions.length === 1, 10_000, "action from the healthy policy");
    expect(harness.actions[0]?.proposal.policy).toBe("raise-on-oom");
    await harness.daemon.metrics.render();
    const text = await harness.daemon.metrics.render();
    expect(text).toMatch(
      /cgwatch_policy_evaluations_total\{[^}]*outcome="timeout"[^}]*policy="spin"[^}]*\} 1|cgwatch_policy_evaluations_total\{policy="spin",outcome="timeout"\} 1/,
    );
  });

  it("dry-run logs and counts the decision and writes nothing", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web", { "memory.max": "104857600\n" });
    harness = await startHarness({
      layout: host.layout,
      yaml: `${YAML}\ndryRun: true\n`,
      policies: { "raise.js": RAISE_ON_OOM },
    });
    await harness.daemon.ready;
    host.write("docker/web", "memory.events", memEvents(1));
    await until(() => harness?.actions.length === 1, 10_000, "dry-run decision");
    expect(harness.actions[0]?.outcome.kind).toBe("dry_run");
    expect(host.read("docker/web", "memory.max").trim()).toBe("104857600");
  });
  it("a quarantine and a compile error are each logged once (by the policy engine), with the policy and file named", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web", { "memory.max": "104857600\n" });
    harness = await startHarness({
      layout: host.layout,
      yaml: YAML.replace("  builtin: false\n", "  builtin: false\n  quarantineAfter: 1\n"),
      policies: {
        "raise.js": RAISE_ON_OOM,
        "thrower.js": `export const meta = { name: "thrower", on: ["oom_kill"], match: ["**"] };\nexport function onEvent() { throw new Error("boom"); }\n`,
        "broken.js": `export const meta = { name: "broken", on: ["oom_kill"] };\nexport function onEvent( {\n`,
      },
    });
    await harness.daemon.ready;
    host.write("docker/web", "memory.events", memEvents(1));
    await until(() => harness?.actions.length === 1, 10_000, "action from the healthy policy");
    await until(
      () => harness?.logs.some((l) => l["msg"] === "policy quarantined") === true,
      10_000,
      "the quarantine line",
    );
    const quarantines = harness.logs.filter((l) => l["msg"] === "policy quarantined");
    expect(quarantines).toHaveLength(1);
    expect(quarantines[0]).toMatchObject({ policy: "thrower" });
    expect(String(quarantines[0]?.["file"])).toMatch(/thrower\.js$/);
    const compileErrors = harness.logs.filter(
      (l) => typeof l["msg"] === "string" && l["msg"].startsWith("policy failed to compile"),
    );
    expect(compileErrors).toHaveLength(1);
    expect(String(compileErrors[0]?.["file"])).toMatch(/broken\.js$/);
  });
});
