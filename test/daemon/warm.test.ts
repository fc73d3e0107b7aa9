/**
 * The warm-up after the first scan runs the snapshot read and the executor
 * in dry-run on a watched cgroup: it must leave no trace an operator could
 * see (no write, no "action decision" line, no action counted, nothing
 * handed to onAction), and the first real action still goes through whole.
 */
import { afterEach, describe, expect, it } from "vitest";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";
import { startHarness, until, type Harness } from "../helpers/daemonHarness.js";

const RAISE_ON_OOM = `
export const meta = { name: "raise-on-oom", on: ["oom_kill"], match: ["docker/*"], cooldown: "0s" };
export function onEvent(event, cgroup) {
  return [{ kind: "set_memory_limit", bytes: cgroup.memory.limitBytes + 1048576 }];
}
`;

const YAML = `
watch: [ "docker/*" ]
policies:
  builtin: false
  dirs: [ "$POLICY_DIR" ]
guardrails:
  cooldown: 30s
  memory: { maxStepPercent: 100 }
psi: { memory: "off" }
`;

let host: FakeHost | null = null;
let harness: Harness | null = null;
afterEach(async () => {
  await harness?.stop();
  harness = null;
  host?.cleanup();
  host = null;
});

describe("warm-up of the decision path", () => {
  it("leaves no write, no decision line, no counted action and no cooldown behind", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web", { "memory.max": "104857600\n", "memory.current": "1048576\n" });
    harness = await startHarness({ layout: host.layout, yaml: YAML, policies: { "raise.js": RAISE_ON_OOM } });
    expect(await harness.daemon.ready).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(host.read("docker/web", "memory.max")).toBe("104857600\n");
    expect(harness.logs.filter((l) => l["msg"] === "action decision")).toEqual([]);
    expect(harness.actions).toEqual([]);
    expect(await harness.daemon.metrics.render()).not.toMatch(/cgwatch_actions_total\{[^}]*\} [1-9]/);
    // The first real action is not held back by a cooldown the warm-up would have noted (30 s here).
    host.write("docker/web", "memory.events", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\noom_group_kill 0\n");
    await until(() => harness?.actions.length === 1, 10_000, "first action");
    expect(harness.actions[0]?.outcome.kind).toBe("applied");
    expect(host.read("docker/web", "memory.max").trim()).toBe(String(104857600 + 1048576));
    expect(harness.logs.filter((l) => l["msg"] === "action decision")).toHaveLength(1);
  });
});
