/**
 * What README and docs promise an operator, tried the way an operator tries
 * it: a real `cgwatch run` child process against a fake cgroup v2 tree
 * (`--cgroup-root`; inotify works on ordinary files), real SIGHUPs, real
 * HTTP scrapes of /metrics.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildDist, sample, startCli, type RunningCli } from "../helpers/cliProcess.js";
import { materialize, V2_CGROUP_FILES } from "../helpers/fakeCgroupfs.js";

beforeAll(() => buildDist(), 120_000);

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Scene {
  readonly root: string;
  readonly dir: string;
  readonly config: string;
  write(cgroup: string, file: string, text: string): void;
  read(cgroup: string, file: string): string;
  run(extra?: readonly string[]): RunningCli;
}

const MiB = 1024 * 1024;

/** A fake v2 host with the given cgroups (memory.max 100M, usage at the limit) and a config file. */
function scene(cgroups: readonly string[], yaml: string): Scene {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cgwatch-operator-${process.pid}-`));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, "cgroup");
  materialize(root, { "cgroup.controllers": "cpu io memory pids\n", "cgroup.subtree_control": "cpu io memory pids\n" });
  for (const c of cgroups) materialize(path.join(root, c), { ...V2_CGROUP_FILES, "memory.max": `${100 * MiB}\n`, "memory.current": `${100 * MiB}\n` });
  const config = path.join(dir, "cgwatch.yaml");
  fs.writeFileSync(config, yaml);
  return {
    root,
    dir,
    config,
    write: (cgroup, file, text) => fs.writeFileSync(path.join(root, cgroup, file), text),
    read: (cgroup, file) => fs.readFileSync(path.join(root, cgroup, file), "utf8"),
    run(extra = []) {
      const cli = startCli(["run", "-c", config, "--cgroup-root", root, ...extra]);
      cleanups.push(() => cli.stop());
      return cli;
    },
  };
}

const memoryMax = (n: number): string => `low 0\nhigh 0\nmax ${n}\noom 0\noom_kill 0\noom_group_kill 0\n`;

/** oom-rescue (the shipped policy) alone, acting on memory.events `max` near the limit. */
const rescueConfig = (stepPercent: number, extra: readonly string[] = []): string =>
  [
    'watch: ["app*"]',
    "policies:",
    "  disabled: [oom-protect-critical, reservation-guard, throttle-burst, pressure-relief]",
    `  params: { oom-rescue: { stepPercent: ${stepPercent} } }`,
    "metrics: { listen: 127.0.0.1:0 }",
    "psi: { memory: off }",
    "safetyNetInterval: 60s",
    ...extra,
    "",
  ].join("\n");

const decision = (cgroup: string) => (l: Record<string, unknown>) => l["msg"] === "action decision" && l["cgroup"] === cgroup && l["policy"] === "oom-rescue";

describe("cgwatch run against a fake v2 tree", () => {
  it("SIGHUP applies policies.params (the next rescue uses the new step) and names restart-only keys in one warning", async () => {
    const s = scene(["app1", "app2"], rescueConfig(25, ["log: { level: debug }", "pollInterval: 1s"]));
    const cli = s.run();
    await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");

    s.write("app1", "memory.events", memoryMax(1));
    const first = await cli.waitLog(decision("app1"), "first rescue");
    expect(first).toMatchObject({ outcome: "applied", after: String(125 * MiB) });

    fs.writeFileSync(s.config, rescueConfig(50, ["log: { level: info }", "pollInterval: 2s", 'exclude: ["nothing"]']));
    cli.child.kill("SIGHUP");
    const reloaded = await cli.waitLog((l) => l["msg"] === "configuration reloaded", "reload");
    expect(reloaded["changed"]).toEqual(expect.arrayContaining(["policies.params", "log.level"]));
    const warnings = cli.logs().filter((l) => typeof l["msg"] === "string" && (l["msg"]).includes("only after a restart"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.["keys"]).toEqual(["exclude", "pollIntervalMs"]);

    s.write("app2", "memory.events", memoryMax(1));
    const second = await cli.waitLog(decision("app2"), "second rescue");
    expect(second).toMatchObject({ outcome: "applied", after: String(150 * MiB) });
    expect(s.read("app2", "memory.max").trim()).toBe(String(150 * MiB));
    expect(await cli.stop()).toBe(0);
  }, 60_000);

  it("SIGHUP applies dryRun: after `dryRun: true` the next proposal is only logged", async () => {
    const s = scene(["app1", "app2"], rescueConfig(25));
    const cli = s.run();
    await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");
    fs.writeFileSync(s.config, rescueConfig(25, ["dryRun: true"]));
    cli.child.kill("SIGHUP");
    const reloaded = await cli.waitLog((l) => l["msg"] === "configuration reloaded", "reload");
    expect(reloaded["changed"]).toEqual(expect.arrayContaining(["dryRun", "guardrails"]));
    s.write("app2", "memory.events", memoryMax(1));
    expect(await cli.waitLog(decision("app2"), "dry-run decision")).toMatchObject({ outcome: "dry_run" });
    expect(s.read("app2", "memory.max").trim()).toBe(String(100 * MiB));
  }, 60_000);

  it("right after an applied action, one scrape shows the new limit and a non-zero cgwatch_actions_total", async () => {
    const s = scene(["app1"], rescueConfig(25));
    const cli = s.run();
    await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");
    // The first publish pass (kicked at ready) has shown the old limit.
    await expect.poll(async () => sample(await cli.scrape(), "cgwatch_memory_limit_bytes", { cgroup: "app1" }), { timeout: 20_000 }).toBe(100 * MiB);

    s.write("app1", "memory.events", memoryMax(1));
    await cli.waitLog(decision("app1"), "rescue");
    // safetyNetInterval is 60 s: only a refresh caused by the write itself can show the new value now.
    const text = await cli.scrape();
    expect(sample(text, "cgwatch_memory_limit_bytes", { cgroup: "app1" })).toBe(125 * MiB);
    expect(sample(text, "cgwatch_actions_total", { policy: "oom-rescue", action: "set_memory_limit", outcome: "applied" })).toBe(1);
    expect(sample(text, "cgwatch_events_total", { kind: "memory_max", source: "inotify" })).toBe(1);
  }, 60_000);
});
