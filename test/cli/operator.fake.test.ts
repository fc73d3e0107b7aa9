/**
 * What README and docs promise an operator, tried the way an operator tries
 * it: a real `cgwatch run` child process against a fake cgroup v2 tree
 * (`--cgroup-root`; inotify works on ordinary files), real SIGHUPs, real
 * HTTP scrapes of /metrics.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildDist, CLI, ROOT, runCli, sample, startCli, waitFor, type RunningCli } from "../helpers/cliProcess.js";
import { materialize, V1_CPUACCT_FILES, V1_MEMORY_FILES, V2_CGROUP_FILES } from "../helpers/fakeCgroupfs.js";
import { IN_CI } from "../helpers/realCgroup.js";

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
  for (const c of cgroups)
    materialize(path.join(root, c), {
      ...V2_CGROUP_FILES,
      "memory.max": `${100 * MiB}\n`,
      "memory.current": `${100 * MiB}\n`,
    });
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

const decision = (cgroup: string) => (l: Record<string, unknown>) =>
  l["msg"] === "action decision" && l["cgroup"] === cgroup && l["policy"] === "oom-rescue";

describe("cgwatch run against a fake v2 tree", () => {
  it("SIGHUP applies policies.params (the next rescue uses the new step) and names restart-only keys in one warning", async () => {
    const s = scene(["app1", "app2"], rescueConfig(25, ["log: { level: debug }", "pollInterval: 1s"]));
    const cli = s.run();
    await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");

    s.write("app1", "memory.events", memoryMax(1));
    const first = await cli.waitLog(decision("app1"), "first rescue");
    expect(first).toMatchObject({ outcome: "applied", after: String(125 * MiB) });

    fs.writeFileSync(s.config, rescueConfig(50, ["log: { level: info }", "pollInterval: 2s", "sampleInterval: 20s"]));
    cli.child.kill("SIGHUP");
    const reloaded = await cli.waitLog((l) => l["msg"] === "configuration reloaded", "reload");
    expect(reloaded["changed"]).toEqual(expect.arrayContaining(["policies.params", "log.level"]));
    const warnings = cli
      .logs()
      .filter((l) => typeof l["msg"] === "string" && l["msg"].includes("only after a restart"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.["keys"]).toEqual(["pollIntervalMs", "sampleIntervalMs"]);

    s.write("app2", "memory.events", memoryMax(1));
    const second = await cli.waitLog(decision("app2"), "second rescue");
    expect(second).toMatchObject({ outcome: "applied", after: String(150 * MiB) });
    expect(s.read("app2", "memory.max").trim()).toBe(String(150 * MiB));
    expect(await cli.stop()).toBe(0);
  }, 60_000);

  it("SIGHUP re-evaluates watch and exclude: a newly matched cgroup is adopted (its old OOM kills not counted as new), an excluded one dropped", async () => {
    const s = scene(["app1", "app2", "other"], rescueConfig(25));
    s.write("other", "memory.events", "low 0\nhigh 0\nmax 0\noom 5\noom_kill 5\noom_group_kill 0\n");
    const cli = s.run();
    const ready = await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");
    expect(ready["watched"]).toBe(2);
    fs.writeFileSync(
      s.config,
      rescueConfig(25).replace('watch: ["app*"]', 'watch: ["app*", "other"]\nexclude: ["app2"]'),
    );
    cli.child.kill("SIGHUP");
    const reloaded = await cli.waitLog((l) => l["msg"] === "configuration reloaded", "reload");
    expect(reloaded["changed"]).toEqual(expect.arrayContaining(["watch", "exclude"]));
    expect(cli.logs().filter((l) => String(l["msg"]).includes("only after a restart"))).toEqual([]);
    // The rescan that "configuration reloaded" starts is asynchronous, and the watched count is 2 both before
    // (app1, app2) and after (app1, other): wait for the set itself to change, then check all three at once.
    const watchedSet = (text: string) => ({
      watched: sample(text, "cgwatch_watched_cgroups"),
      other: sample(text, "cgwatch_cgroup_info", { cgroup: "other" }),
      app2: sample(text, "cgwatch_cgroup_info", { cgroup: "app2" }),
    });
    await expect
      .poll(async () => watchedSet(await cli.scrape()), { timeout: 20_000 })
      .toEqual({ watched: 2, other: 1, app2: undefined });
    // Adopted, not created: the first scrape that has the series shows its five earlier OOM kills as they are
    // (a cgroup created while watched would show 0 first, so that increase() counts its kills as new).
    let firstSeen: number | undefined;
    await expect
      .poll(
        async () =>
          (firstSeen = sample(await cli.scrape(), "cgwatch_memory_events_total", {
            cgroup: "other",
            event: "oom_kill",
          })),
        { timeout: 20_000 },
      )
      .toBeDefined();
    expect(firstSeen).toBe(5);
    s.write("other", "memory.events", "low 0\nhigh 0\nmax 1\noom 5\noom_kill 5\noom_group_kill 0\n");
    expect(await cli.waitLog(decision("other"), "rescue of the adopted cgroup")).toMatchObject({ outcome: "applied" });
  }, 60_000);

  it("a SIGHUP during startup (before the first scan is done) is held and applied once ready, not fatal", async () => {
    const s = scene(["app1"], rescueConfig(25));
    const cli = s.run();
    await cli.waitLog((l) => l["msg"] === "starting cgwatch", "starting");
    cli.child.kill("SIGHUP");
    await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");
    await cli.waitLog((l) => l["msg"] === "configuration reloaded", "the held reload");
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
    await expect
      .poll(async () => sample(await cli.scrape(), "cgwatch_memory_limit_bytes", { cgroup: "app1" }), {
        timeout: 20_000,
      })
      .toBe(100 * MiB);

    s.write("app1", "memory.events", memoryMax(1));
    await cli.waitLog(decision("app1"), "rescue");
    // safetyNetInterval is 60 s: only a refresh caused by the write itself can show the new value now.
    const text = await cli.scrape();
    expect(sample(text, "cgwatch_memory_limit_bytes", { cgroup: "app1" })).toBe(125 * MiB);
    expect(
      sample(text, "cgwatch_actions_total", { policy: "oom-rescue", action: "set_memory_limit", outcome: "applied" }),
    ).toBe(1);
    expect(sample(text, "cgwatch_events_total", { kind: "memory_max", source: "inotify" })).toBe(1);
  }, 60_000);
});

/** A fake v1 host: `both` exists in the memory and cpu hierarchies, `cpuonly` only in cpu and cpuacct (hybrid-style). */
function hybridScene(): { root: string; config: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cgwatch-hybrid-${process.pid}-`));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, "cgroup");
  const cpu = {
    "cgroup.procs": "",
    "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
    "cpu.cfs_quota_us": "-1\n",
    "cpu.cfs_period_us": "100000\n",
    "cpu.shares": "1024\n",
  };
  materialize(root, {
    memory: { "cgroup.procs": "", both: { ...V1_MEMORY_FILES } },
    cpu: { "cgroup.procs": "", both: cpu, cpuonly: cpu },
    cpuacct: { "cgroup.procs": "", both: { ...V1_CPUACCT_FILES }, cpuonly: { ...V1_CPUACCT_FILES } },
  });
  const config = path.join(dir, "cgwatch.yaml");
  fs.writeFileSync(
    config,
    ['watch: ["*"]', "metrics: { listen: 127.0.0.1:0 }", "policies: { builtin: false }", ""].join("\n"),
  );
  return { root, config };
}

describe("a cgroup that exists only in the cpu hierarchy", () => {
  it("status reports it without a memory notifier, and run starts without a warning or a stack trace for it", async () => {
    const { root, config } = hybridScene();
    const status = runCli(["status", "-c", config, "--cgroup-root", root]);
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/^ {2}cpuonly {2}act memory=- notifier=none$/m);
    expect(status.stdout).toMatch(/^ {2}both {2}act memory=v1 notifier=(eventfd|poll)$/m);

    const cli = startCli(["run", "-c", config, "--cgroup-root", root, "--dry-run"]);
    cleanups.push(() => cli.stop());
    await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");
    // Let the sources subscribe and fail, if they are going to.
    await new Promise((r) => setTimeout(r, 500));
    expect(await cli.stop()).toBe(0);
    const logs = cli.logs();
    expect(logs.filter((l) => l["cgroup"] === "cpuonly" && l["level"] !== 30)).toEqual([]);
    expect(cli.stdout()).not.toMatch(/"stack"/);
    // Its cpu side is still watched: it is one of the two cgroups.
    expect(logs.find((l) => l["msg"] === "ready: first scan complete")?.["watched"]).toBe(2);
  }, 60_000);
});

describe("self-protection without CAP_SYS_RESOURCE", () => {
  // Needs root (the point is what the message says to root) and setpriv (util-linux) to drop CAP_SYS_RESOURCE; in CI it must run.
  const canDropCap = process.getuid?.() === 0 && fs.existsSync("/usr/bin/setpriv");
  it.skipIf(!canDropCap && !IN_CI)(
    "as root, the EACCES reason names the capability and never says 'not root'",
    async () => {
      if (!canDropCap) throw new Error("needs root and setpriv (util-linux) to drop CAP_SYS_RESOURCE");
      const s = scene(["app1"], rescueConfig(25));
      // Drop CAP_SYS_RESOURCE from the bounding set: as root, lowering oom_score_adj then fails with EACCES.
      const cli = startCli(["run", "-c", s.config, "--cgroup-root", s.root], {}, [
        "/usr/bin/setpriv",
        "--bounding-set",
        "-sys_resource",
        "--inh-caps",
        "-sys_resource",
      ]);
      cleanups.push(() => cli.stop());
      const line = await cli.waitLog((l) => l["policy"] === "self-protection", "self-protection decision");
      expect(line).toMatchObject({ outcome: "failed", errno: "EACCES" });
      expect(String(line["reason"])).not.toMatch(/not root/);
      expect(String(line["reason"])).toMatch(/CAP_SYS_RESOURCE/);
    },
    60_000,
  );
});

describe("the CLI's help and exit codes", () => {
  it("bare `cgwatch` is a usage error: help on stderr, exit 2; --help is help: stdout, exit 0", () => {
    const bare = runCli([]);
    expect(bare.status).toBe(2);
    expect(bare.stdout).toBe("");
    expect(bare.stderr).toMatch(/^Usage: cgwatch /);
    const help = runCli(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: cgwatch /);
    expect(runCli(["policy"]).status).toBe(2);
    expect(runCli(["nonsense"])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/unknown command 'nonsense'/) as unknown,
    });
  });

  it("check --help lists only the options check acts on", () => {
    const r = runCli(["check", "--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--config/);
    for (const inert of ["--dry-run", "--log-level", "--metrics-listen", "--cgroup-root"])
      expect(r.stdout).not.toContain(inert);
    const status = runCli(["status", "--help"]).stdout;
    for (const inert of ["--dry-run", "--log-level"]) expect(status).not.toContain(inert);
  });

  it("cgwatch_build_info carries a revision, never an empty one", async () => {
    const s = scene(["app1"], rescueConfig(25));
    const cli = s.run();
    await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");
    const line = (await cli.scrape()).split("\n").find((l) => l.startsWith("cgwatch_build_info{"));
    expect(line).toMatch(/revision="([0-9a-f]{12}|unknown)"/);
  }, 60_000);
});

describe("log format", () => {
  // eslint-disable-next-line no-control-regex -- the colour codes of a terminal are what this matches
  const READY_PRETTY = /^\d\d:\d\d:\d\d\.\d{3} (\x1b\[\d+m)?INFO (\x1b\[0m)? lifecycle: ready: first scan complete/m;

  it("log.format: pretty changes the output: human lines, not JSON, even into a pipe", async () => {
    const s = scene(["app1"], rescueConfig(25, ["log: { format: pretty }"]));
    const cli = s.run();
    await waitFor(() => READY_PRETTY.test(cli.stdout()), "a pretty ready line");
    expect(cli.stdout()).not.toMatch(/^\{/m);
    expect(cli.stdout()).not.toContain("\x1b["); // not a terminal: no colour
  }, 60_000);

  it("on a terminal (a pseudo-terminal from script(1)) the default is pretty; log.format: json keeps JSON", async () => {
    if (!fs.existsSync("/usr/bin/script")) throw new Error("needs script(1) from util-linux for a pseudo-terminal");
    const underPty = async (extra: readonly string[], until: RegExp): Promise<string> => {
      const s = scene(["app1"], rescueConfig(25, extra));
      const cmd = ["exec", process.execPath, CLI, "run", "-c", s.config, "--cgroup-root", s.root]
        .map((a) => `'${a}'`)
        .join(" ")
        .replace("'exec'", "exec");
      const child = spawn("/usr/bin/script", ["-qec", cmd, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      const stop = async (): Promise<void> => {
        if (child.exitCode !== null || child.pid === undefined) return;
        // cgwatch is script's child: stop it by its pid, then script ends with it.
        const kids = fs
          .readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8")
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map(Number);
        for (const k of kids) process.kill(k, "SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(t);
      };
      cleanups.push(stop);
      await waitFor(() => until.test(out), `${String(until)} on the pty`);
      await stop();
      return out;
    };
    const pretty = await underPty([], READY_PRETTY);
    expect(pretty).not.toMatch(/^\{"level"/m);
    const json = await underPty(["log: { format: json }"], /"msg":"ready: first scan complete"/);
    expect(json).not.toMatch(READY_PRETTY);
  }, 90_000);
});

describe("cgwatch run --record, then cgwatch policy test", () => {
  it("the trace a run records replays through the real CLI: the same rescue from the recorded snapshot, the second hit left alone", async () => {
    const s = scene(["app1"], rescueConfig(25));
    const trace = path.join(s.dir, "trace.jsonl");
    const cli = s.run(["--record", trace]);
    await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");
    s.write("app1", "memory.events", memoryMax(1));
    await cli.waitLog(decision("app1"), "rescue");
    // A second limit hit right after, recorded with the raised limit.
    s.write("app1", "memory.events", memoryMax(2));
    await waitFor(() => fs.readFileSync(trace, "utf8").includes('"after":2'), "the second event in the trace");
    expect(await cli.stop()).toBe(0);

    const recorded = fs
      .readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: { kind: string }; snapshot?: { memory: { limitBytes: number } } });
    const maxes = recorded.filter((r) => r.event.kind === "memory_max");
    expect(maxes.map((r) => r.snapshot?.memory.limitBytes)).toEqual([100 * MiB, 125 * MiB]);

    const config = path.join(s.dir, "replay.yaml");
    fs.writeFileSync(config, "policies: { params: { oom-rescue: { stepPercent: 25 } } }\n");
    const r = runCli([
      "policy",
      "test",
      path.join(ROOT, "policies/oom-rescue.js"),
      "--events",
      trace,
      "--config",
      config,
      "--host-memory",
      "64g",
    ]);
    expect(r.stderr).toBe("");
    const decisions = r.stdout.split("\n").filter((l) => l.startsWith("line ") || l.startsWith("  → "));
    expect(decisions).toEqual([
      expect.stringMatching(/^line \d+ cgroup_added app1: not subscribed/) as unknown,
      expect.stringMatching(
        new RegExp(`^line \\d+ memory_max app1: set_memory_limit \\{"bytes":${125 * MiB}\\}$`),
      ) as unknown,
      "  → applied (simulated: the next event of this cgroup sees it)",
      // The policy's cooldown (or, were it not there, usage 100M < 0.9 × 125M) leaves the second hit alone.
      expect.stringMatching(
        /^line \d+ memory_max app1: (skipped \(cooling down for another \d+ ms\)|no action)$/,
      ) as unknown,
    ]);
    expect(r.status).toBe(0);
  }, 60_000);
});
