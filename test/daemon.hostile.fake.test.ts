/**
 * The daemon against a broken or hostile fake v2 tree (real symlinks,
 * malformed and oversized counters): bad input is reported once when it
 * starts and once when it clears, never turned into events or exported
 * numbers, and a policy's writes never leave the root.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fakeHost, type FakeHost } from "./helpers/fakeCgroupfs.js";
import { startHarness, until, type Harness } from "./helpers/daemonHarness.js";
import { symlinkAt } from "./helpers/hostileTree.js";

const memEvents = (kills: string | number): string =>
  `low 0\nhigh 0\nmax 0\noom 0\noom_kill ${kills}\noom_group_kill 0\n`;

let host: FakeHost | null = null;
let harness: Harness | null = null;
const dirs: string[] = [];
afterEach(async () => {
  await harness?.stop();
  harness = null;
  host?.cleanup();
  host = null;
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const YAML = `
watch: [ "docker/*" ]
policies:
  builtin: false
  dirs: [ "$POLICY_DIR" ]
pollInterval: 100ms
safetyNetInterval: 1s
guardrails:
  cooldown: 0s
  memory: { floor: 1M, maxStepPercent: 100 }
psi:
  memory: "off"
`;

const msgs = (h: Harness, prefix: string): Record<string, unknown>[] =>
  h.logs.filter((l) => typeof l["msg"] === "string" && l["msg"].startsWith(prefix));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("daemon on a hostile fake v2 tree", () => {
  it("oom_kill = 2^64+1 is malformed: no event, no exported value, one log line at start and one at clear, counted", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web");
    harness = await startHarness({ layout: host.layout, yaml: YAML });
    expect(await harness.daemon.ready).toBe(1);
    // Re-written several times (each an inotify wake) and re-read by safety-net sweeps.
    for (let i = 0; i < 5; i++) {
      host.write("docker/web", "memory.events", memEvents("18446744073709551617"));
      await sleep(300);
    }
    await sleep(1200);
    const h = harness;
    expect(h.events.filter((e) => e.kind === "oom_kill")).toEqual([]);
    expect(msgs(h, "read problem started")).toHaveLength(1);
    expect(msgs(h, "read problem started")[0]).toMatchObject({
      reason: "malformed",
      file: "memory.events",
      cgroup: "docker/web",
    });
    // A new counter series is held at 0 for its first scrape (so increase() sees the first count).
    await h.daemon.metrics.render();
    const text = await h.daemon.metrics.render();
    expect(text).not.toMatch(/event="oom_kill"\} 1\.8/);
    expect(text).toMatch(/cgwatch_read_problems_total\{file="memory.events",reason="malformed"\} 1\b/);
    // A sane value again: the real delta from the last good read, and the problem clears once.
    host.write("docker/web", "memory.events", memEvents(1));
    await until(() => h.events.some((e) => e.kind === "oom_kill"), 10_000, "the oom_kill after the file recovers");
    expect(h.events.find((e) => e.kind === "oom_kill")).toMatchObject({ counter: { before: 0, after: 1 } });
    await sleep(1200);
    expect(msgs(h, "read problem cleared")).toHaveLength(1);
    expect(msgs(h, "read problem started")).toHaveLength(1);
  });

  it("a watched file that is a symlink out of the tree is reported and not read; a policy's write through a symlinked file is refused", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web", { "memory.max": "104857600\n" });
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-outside-"));
    dirs.push(outside);
    fs.writeFileSync(path.join(outside, "memory.events"), memEvents(0));
    fs.writeFileSync(path.join(outside, "memory.max"), "precious\n");
    symlinkAt(host.file("docker/web", "memory.events"), path.join(outside, "memory.events"));
    symlinkAt(host.file("docker/web", "memory.max"), path.join(outside, "memory.max"));
    harness = await startHarness({
      layout: host.layout,
      yaml: `${YAML}\nsampleInterval: 1s\n`,
      policies: {
        "raise.js": `export const meta = { name: "raise", on: ["sample"], cooldown: "0s" };
export function onEvent() { return [{ kind: "set_memory_limit", bytes: 209715200 }]; }`,
      },
    });
    expect(await harness.daemon.ready).toBe(1);
    const h = harness;
    // The outside file changes: nothing reads through the symlink, so no event.
    fs.writeFileSync(path.join(outside, "memory.events"), memEvents(7));
    await until(() => h.actions.length > 0, 10_000, "the policy's action on a sample");
    await sleep(1500);
    expect(h.events.filter((e) => e.kind === "oom_kill")).toEqual([]);
    expect(msgs(h, "read problem started").map((l) => `${String(l["file"])}:${String(l["reason"])}`)).toContain(
      "memory.events:symlink",
    );
    // The write through the symlinked memory.max: refused (its read before planning already is), the outside file intact.
    expect(h.actions[0]?.outcome).toMatchObject({ kind: "failed", errno: "EREFUSED" });
    expect(fs.readFileSync(path.join(outside, "memory.max"), "utf8")).toBe("precious\n");
  });

  it("oom_score_adj through a symlinked /proc/<pid>: the write is refused, logged once as a write problem, counted", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web", { "cgroup.procs": "4242\n" });
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-proc-"));
    dirs.push(base);
    const procRoot = path.join(base, "proc");
    const outside = path.join(base, "outside");
    fs.mkdirSync(procRoot);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, "oom_score_adj"), "0\n");
    fs.symlinkSync(outside, path.join(procRoot, "4242"));
    harness = await startHarness({
      layout: host.layout,
      procRoot,
      yaml: `${YAML}\nsampleInterval: 1s\n`,
      policies: {
        "adj.js": `export const meta = { name: "adj", on: ["sample"], cooldown: "0s" };
export function onEvent() { return [{ kind: "set_oom_score_adj", value: 900 }]; }`,
      },
    });
    expect(await harness.daemon.ready).toBe(1);
    const h = harness;
    await until(() => h.actions.length >= 3, 15_000, "three sample-driven actions");
    expect(h.actions[0]?.outcome).toMatchObject({ kind: "failed", errno: "EREFUSED" });
    expect(fs.readFileSync(path.join(outside, "oom_score_adj"), "utf8")).toBe("0\n");
    expect(msgs(h, "write problem started")).toHaveLength(1);
    expect(msgs(h, "write problem started")[0]).toMatchObject({
      op: "write",
      file: "oom_score_adj",
      reason: "symlink",
    });
    await h.daemon.metrics.render();
    expect(await h.daemon.metrics.render()).toMatch(
      /cgwatch_write_refusals_total\{file="oom_score_adj",reason="symlink"\} 1\b/,
    );
  });

  it("a symlinked directory appearing in a watched parent is not a cgroup: not watched, never acted on", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/web");
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-outside-"));
    dirs.push(outside);
    fs.writeFileSync(path.join(outside, "memory.events"), memEvents(0));
    fs.writeFileSync(path.join(outside, "cgroup.events"), "populated 1\nfrozen 0\n");
    harness = await startHarness({ layout: host.layout, yaml: YAML });
    expect(await harness.daemon.ready).toBe(1);
    const h = harness;
    // Created while watching: discovery hears IN_CREATE for "evil" and must lstat, not stat, it.
    fs.symlinkSync(outside, path.join(host.root, "docker", "evil"));
    host.addCgroup("docker/real");
    await until(
      () => h.events.some((e) => e.kind === "cgroup_added" && e.cgroup === "docker/real"),
      10_000,
      "the real new cgroup",
    );
    await sleep(500);
    expect(
      h.events
        .filter((e) => e.kind === "cgroup_added")
        .map((e) => e.cgroup)
        .sort(),
    ).toEqual(["docker/real", "docker/web"]);
    expect(
      h.daemon
        .status()
        .map((c) => c.cgroup)
        .sort(),
    ).toEqual(["docker/real", "docker/web"]);
  });
});
