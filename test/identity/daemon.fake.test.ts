/**
 * Container identity through the whole daemon on a fake v2 cgroupfs, with
 * Docker's metadata from the captured fixture: the watch rule selects by
 * container name, /metrics, the policy snapshot and the log name the
 * container, and a removed container's OOM stays exported for the retention
 * window, then goes.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";
import { startHarness, until, type Harness } from "../helpers/daemonHarness.js";

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/identity");
const WEB = "3f4e8a0c2b1d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7";
const STRANGER = "0".repeat(64);

const NAME_POLICY = `
export const meta = { name: "by-name", on: ["oom_kill"], match: [{ container: { name: "shop-*", image: "nginx:*" } }], cooldown: "0s" };
export function onEvent(event, cgroup) {
  return [{ kind: "annotate", message: "saw " + cgroup.container.name + " " + cgroup.container.image + " " + cgroup.container.labels["com.docker.compose.service"] }];
}
`;

const yaml = (retain: string) => `
watch:
  - pattern: "docker/*"
    container: { name: "shop-*" }
    labels: { tier: web }
policies:
  builtin: false
  dirs: [ "$POLICY_DIR" ]
pollInterval: 100ms
safetyNetInterval: 1s
psi:
  memory: "off"
metrics:
  retainRemoved: ${retain}
identity:
  roots: { docker: [ "${path.join(FIX, "docker")}" ], podman: [], containerd: [], crio: [] }
  kmsg: false
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

describe("container identity in the daemon (fake v2, Docker metadata)", () => {
  it("watches by container name; metrics, snapshot and log name it; its OOM outlives it for the retention window", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup(`docker/${WEB}`, { "memory.max": "104857600\n" });
    host.addCgroup(`docker/${STRANGER}`);
    harness = await startHarness({
      layout: host.layout,
      yaml: yaml("1500ms"),
      policies: { "by-name.js": NAME_POLICY },
    });
    // The stranger has no metadata: its name is unknown, so the name selector leaves it out.
    expect(await harness.daemon.ready).toBe(1);

    let text = await harness.daemon.metrics.render();
    expect(text).toContain(
      `cgwatch_cgroup_info{cgroup="docker/${WEB}",memory="2",cpu="2",engine="docker",container_id="${WEB}",name="shop-web-1",image="nginx:1.27",pod="",namespace="",container=""} 1`,
    );

    host.write(`docker/${WEB}`, "memory.events", memEvents(1));
    await until(() => harness?.actions.length === 1, 10_000, "the policy's annotate");
    expect(harness.actions[0]?.proposal.action).toEqual({ kind: "annotate", message: "saw shop-web-1 nginx:1.27 web" });
    const oomLine = await until(
      () => harness?.logs.find((l) => typeof l["msg"] === "string" && l["msg"].startsWith("oom_kill in")),
      5000,
      "the oom_kill line",
    );
    expect(oomLine["msg"]).toBe("oom_kill in shop-web-1");
    expect(oomLine["container"]).toEqual({
      engine: "docker",
      name: "shop-web-1",
      id: WEB.slice(0, 12),
      image: "nginx:1.27",
    });
    const decision = harness.logs.find((l) => l["msg"] === "action decision");
    expect(decision?.["container"]).toMatchObject({ name: "shop-web-1" });

    host.removeCgroup(`docker/${WEB}`);
    await until(() => harness?.events.some((e) => e.kind === "cgroup_removed"), 10_000, "removal");
    text = await harness.daemon.metrics.render();
    // Retained: its last OOM count and its identity, no longer counted as watched.
    expect(text).toMatch(new RegExp(`cgwatch_memory_events_total\\{cgroup="docker/${WEB}",event="oom_kill"\\} 1`));
    expect(text).toContain(`name="shop-web-1"`);
    expect(text).toMatch(/^cgwatch_watched_cgroups 0$/m);
    // Then gone after the window.
    const deadline = Date.now() + 10_000;
    while ((await harness.daemon.metrics.render()).includes(WEB)) {
      if (Date.now() > deadline) throw new Error("retained series never expired");
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);
});
