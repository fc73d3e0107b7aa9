import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_GUARDRAILS } from "../../src/actions/guardrailConfig.js";
import { formatConfigError } from "../../src/config/format.js";
import { loadConfig, packagePolicyDir, type LoadOptions } from "../../src/config/load.js";
import type { ConfigError, LoadResult, RuntimeConfig } from "../../src/config/types.js";
import { BAD_CASES, GOOD_CASES, markedLine } from "./cases.js";

const repo = path.resolve(import.meta.dirname, "../..");
const shipped = path.join(repo, "config/cgwatch.yaml");
let tmp = "";
let builtin = "";

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-config-"));
  builtin = path.join(tmp, "builtin-policies");
  fs.mkdirSync(builtin);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
}

function load(opts: LoadOptions): LoadResult {
  return loadConfig({ builtinPolicyDir: builtin, defaultPath: path.join(tmp, "absent.yaml"), ...opts });
}

function ok(r: LoadResult): RuntimeConfig {
  if (r.kind !== "ok") throw new Error(r.errors.map(formatConfigError).join("\n"));
  return r.config;
}

function errs(r: LoadResult): readonly ConfigError[] {
  if (r.kind !== "error") throw new Error("expected errors, config loaded");
  return r.errors;
}

describe("the shipped config and the defaults", () => {
  it("config/cgwatch.yaml loads clean", () => {
    const r = load({ path: shipped });
    expect(r.kind).toBe("ok");
    if (r.kind === "ok") expect(r.source).toEqual({ kind: "file", path: shipped });
  });

  it("config/cgwatch.yaml is exactly the built-in defaults (an empty file gives the same config)", () => {
    expect(ok(load({ path: shipped }))).toEqual(ok(load({ path: write("empty.yaml", "") })));
  });

  it("every key is optional: an empty file, a comment-only file and no file at all all give the defaults", () => {
    const none = load({});
    expect(none.kind === "ok" && none.source).toEqual({ kind: "defaults", path: path.join(tmp, "absent.yaml") });
    const c = ok(none);
    expect(ok(load({ path: write("comments.yaml", "# only a comment\n") }))).toEqual(c);
    expect(c.cgroupRoot).toEqual({ kind: "auto" });
    // The built-in catch-all observes every cgroup and opts none in to actions.
    expect(c.watch).toEqual([{ pattern: "**", labels: {}, act: false, v1PressureLevels: null }]);
    expect(c.v1PressureLevels).toEqual(["medium"]);
    expect(c.policies.cooldownsMs).toEqual({});
    expect(c.pollIntervalMs).toBe(1000);
    expect(c.safetyNetIntervalMs).toBe(30_000);
    expect(c.psi.memory).toEqual({
      stall: "some",
      thresholdUs: 300_000,
      windowUs: 2_000_000,
      kernel: "some 300000 2000000",
    });
    expect(c.psi.cpu).toBeNull();
    expect(c.metrics.listen).toEqual({ kind: "tcp", host: "127.0.0.1", port: 9786 });
    expect(c.selfProtection.oomScoreAdj).toBe(-1000);
    expect(c.policies.dirs).toEqual([builtin]);
    expect(c.guardrails.global).toEqual({ ...DEFAULT_GUARDRAILS, protectedCgroups: ["init.scope"] });
  });

  it("the runtime config is frozen all the way down", () => {
    const c = ok(load({ path: shipped }));
    expect(Object.isFrozen(c.guardrails.global.memory)).toBe(true);
    expect(() => {
      (c.watch as unknown as { pattern: string }[]).push({ pattern: "x" });
    }).toThrow();
  });

  it("finds the package's own policies/ from src/ (and the same walk works from dist/src/)", () => {
    expect(packagePolicyDir()).toBe(path.join(repo, "policies"));
  });
});

describe("units and compilation", () => {
  it("converts sizes to bytes and durations to ms, and resolves policy dirs against the file", () => {
    const dir = fs.mkdtempSync(path.join(tmp, "host-"));
    fs.mkdirSync(path.join(dir, "site-policies"));
    const file = path.join(dir, "c.yaml");
    fs.writeFileSync(file, (GOOD_CASES[2]?.yaml ?? "") + "");
    fs.writeFileSync(
      file,
      fs.readFileSync(file, "utf8").replace("policies:\n", "policies:\n  dirs: [site-policies]\n"),
    );
    const c = ok(load({ path: file }));
    expect(c.policies.dirs).toEqual([builtin, path.join(dir, "site-policies")]);
    expect(c.policies.deadlineMs).toBe(20);
    expect(c.policies.memoryLimitBytes).toBe(64 * 2 ** 20);
    expect(c.guardrails.global.memory).toEqual({
      ceilingFractionOfHost: null,
      ceilingBytes: 64 * 2 ** 30,
      floorBytes: 32 * 2 ** 20,
      maxStepFraction: 0.5,
      maxStepBytes: 512 * 2 ** 20,
    });
    expect(c.guardrails.global.cpu).toEqual({ minCores: 0.5, maxCores: 8, maxStepFactor: 4 });
    expect(c.guardrails.global.cooldownMs).toBe(60_000);
    expect(c.guardrails.global.rateLimit).toBeNull();
    expect(c.guardrails.global.dryRun).toBe(true);
    expect(c.guardrails.perPolicy?.["oom-rescue"]).toEqual({
      dryRun: true,
      memory: { ceilingBytes: 16 * 2 ** 30 },
      cooldownMs: 10_000,
      protectedCgroups: ["docker/db"],
    });
    // Rules the operator wrote are their opt-in: they act unless they say act: false.
    expect(c.watch[0]).toEqual({ pattern: "docker/*", labels: {}, act: true, v1PressureLevels: null });
    expect(c.watch[2]).toEqual({
      pattern: "system.slice/postgresql.service",
      labels: { tier: "critical", team: "db" },
      act: true,
      v1PressureLevels: null,
    });
    expect(c.watch[3]).toEqual({ pattern: "kubepods.slice/**", labels: {}, act: false, v1PressureLevels: null });
    expect(c.psi).toEqual({
      memory: { stall: "full", thresholdUs: 100_000, windowUs: 2_000_000, kernel: "full 100000 2000000" },
      cpu: { stall: "some", thresholdUs: 150_000, windowUs: 1_000_000, kernel: "some 150000 1000000" },
      io: null,
    });
    expect(c.metrics.listen).toEqual({ kind: "tcp", host: "::1", port: 9786 });
    expect(c.log).toEqual({ level: "debug", format: "pretty" });
    expect(c.pollIntervalMs).toBe(500);
    expect(c.safetyNetIntervalMs).toBe(60_000);
  });

  it("v1PressureLevels: global and per watch rule, each level once; policies.cooldowns in ms", () => {
    const yaml = [
      "v1PressureLevels: [critical, low, critical]",
      "watch:",
      "  - docker/*",
      "  - pattern: system.slice/*",
      "    v1PressureLevels: []",
      "policies:",
      "  cooldowns: { oom-rescue: 5s, throttle-burst: 250 }",
      "",
    ].join("\n");
    const c = ok(load({ path: write("levels.yaml", yaml) }));
    expect(c.v1PressureLevels).toEqual(["low", "critical"]);
    expect(c.watch.map((w) => w.v1PressureLevels)).toEqual([null, []]);
    expect(c.policies.cooldownsMs).toEqual({ "oom-rescue": 5000, "throttle-burst": 250 });
    const bad = load({ path: write("badlevel.yaml", "v1PressureLevels: [severe]\n") });
    expect(bad.kind).toBe("error");
    if (bad.kind === "error")
      expect(formatConfigError(bad.errors[0] as ConfigError)).toMatch(
        /badlevel\.yaml:1:.*v1PressureLevels.*"low", "medium" or "critical"/,
      );
    const badCooldown = load({ path: write("badcd.yaml", "policies:\n  cooldowns: { oom-rescue: soon }\n") });
    expect(badCooldown.kind === "error" && formatConfigError(badCooldown.errors[0] as ConfigError)).toMatch(
      /badcd\.yaml:2:.*policies\.cooldowns\.oom-rescue/,
    );
  });

  it("policies.builtin: false leaves only the listed dirs", () => {
    const c = ok(load({ path: write("nobuiltin.yaml", `policies:\n  builtin: false\n  dirs: [${tmp}]\n`) }));
    expect(c.policies.dirs).toEqual([tmp]);
  });

  it("a missing shipped policies directory is an error unless builtin is off", () => {
    const r = errs(load({ path: write("e.yaml", ""), builtinPolicyDir: path.join(tmp, "gone") }));
    expect(r.map((e) => e.key)).toEqual(["policies.builtin"]);
    expect(formatConfigError(r[0] as ConfigError)).toMatch(
      /policies\.builtin: the shipped policies directory .*gone is missing/,
    );
  });
});

describe("bad configs: every error names the file, the line and the key", () => {
  for (const c of BAD_CASES) {
    it(c.name, () => {
      const file = write(`bad-${c.name.replace(/\W+/g, "-")}.yaml`, c.yaml);
      const errors = errs(load({ path: file }));
      const hit = errors.find((e) => e.key === c.key);
      expect(hit, errors.map(formatConfigError).join("\n")).toBeDefined();
      expect(hit?.file).toBe(file);
      expect(hit?.line).toBe(markedLine(c.yaml));
      expect(hit?.message).toMatch(c.message);
      const text = formatConfigError(hit as ConfigError);
      expect(text.startsWith(`${file}:${markedLine(c.yaml)}:`)).toBe(true);
      expect(text).toContain(c.key === "" ? ": " : `: ${c.key}: `);
    });
  }

  it("reports every problem of a file, not only the first", () => {
    const errors = errs(load({ path: write("many.yaml", "dryRun: 3\npollInterval: soon\nlog:\n  levle: info\n") }));
    expect(errors.map((e) => [e.key, e.line])).toEqual([
      ["dryRun", 1],
      ["pollInterval", 2],
      ["log.levle", 4],
    ]);
  });

  it("YAML syntax errors and duplicate keys carry their line", () => {
    const dup = errs(load({ path: write("dup.yaml", "dryRun: true\nlog:\n  level: info\ndryRun: false\n") }));
    expect(dup[0]?.line).toBe(4);
    expect(dup[0]?.message).toMatch(/YAML: .*unique/i);
    const broken = errs(load({ path: write("broken.yaml", "log:\n  level: [info\n") }));
    expect(broken[0]?.line).toBeGreaterThanOrEqual(2);
    expect(broken[0]?.message).toMatch(/^YAML: /);
  });

  it("a config file named explicitly must exist; the default path may be absent", () => {
    const viaFlag = errs(load({ path: path.join(tmp, "nope.yaml") }));
    expect(formatConfigError(viaFlag[0] as ConfigError)).toBe(
      `${path.join(tmp, "nope.yaml")}: --config: cannot read the config file: no such file`,
    );
    const viaEnv = errs(load({ env: { CGWATCH_CONFIG: path.join(tmp, "nope.yaml") } }));
    expect(viaEnv[0]?.key).toBe("CGWATCH_CONFIG");
    expect(errs(load({ path: tmp }))[0]?.message).toMatch(/is a directory/);
  });

  it("errorAt locates keys for checks made by later stages (e.g. params for a policy that does not exist)", () => {
    const file = write("later.yaml", "policies:\n  params:\n    no-such-policy: { x: 1 }\n");
    const r = load({ path: file });
    if (r.kind !== "ok") throw new Error("expected ok");
    expect(formatConfigError(r.errorAt(["policies", "params", "no-such-policy"], "no policy has this name"))).toBe(
      `${file}:3:21: policies.params.no-such-policy: no policy has this name`,
    );
  });
});

describe("environment and flag overrides", () => {
  it("override the file, flags over environment", () => {
    const file = write("base.yaml", "dryRun: false\nlog: { level: warn }\nmetrics: { listen: 127.0.0.1:9786 }\n");
    const env = {
      CGWATCH_DRY_RUN: "yes",
      CGWATCH_LOG_LEVEL: "debug",
      CGWATCH_METRICS_LISTEN: "0.0.0.0:9100",
      CGWATCH_CGROUP_ROOT: tmp,
    };
    const c = ok(load({ path: file, env }));
    expect([c.dryRun, c.guardrails.global.dryRun, c.log.level, c.metrics.listen, c.cgroupRoot]).toEqual([
      true,
      true,
      "debug",
      { kind: "tcp", host: "0.0.0.0", port: 9100 },
      { kind: "path", path: tmp },
    ]);
    const f = ok(load({ path: file, env, overrides: { dryRun: false, logLevel: "error", metricsListen: ":9200" } }));
    expect([f.dryRun, f.log.level, f.metrics.listen]).toEqual([
      false,
      "error",
      { kind: "tcp", host: "0.0.0.0", port: 9200 },
    ]);
  });

  it("CGWATCH_CONFIG picks the file when --config is not given", () => {
    const file = write("env.yaml", "pollInterval: 2s\n");
    expect(ok(load({ env: { CGWATCH_CONFIG: file } })).pollIntervalMs).toBe(2000);
  });

  const bad: [string, Record<string, string>, LoadOptions["overrides"], RegExp][] = [
    ["CGWATCH_DRY_RUN", { CGWATCH_DRY_RUN: "maybe" }, undefined, /expected a boolean/],
    ["CGWATCH_LOG_LEVEL", { CGWATCH_LOG_LEVEL: "loud" }, undefined, /expected one of/],
    ["CGWATCH_METRICS_LISTEN", { CGWATCH_METRICS_LISTEN: "nowhere" }, undefined, /no port/],
    ["CGWATCH_CGROUP_ROOT", { CGWATCH_CGROUP_ROOT: "/nonexistent/cg" }, undefined, /is not a directory/],
    ["CGWATCH_CGROUP_ROOT", { CGWATCH_CGROUP_ROOT: "relative/cg" }, undefined, /absolute path/],
    ["--metrics-listen", {}, { metricsListen: "[zz]:1" }, /not an IPv6 address/],
    ["--log-level", {}, { logLevel: "chatty" }, /expected one of/],
  ];
  for (const [key, env, overrides, message] of bad) {
    it(`a bad ${key} is an error naming it`, () => {
      const errors = errs(
        load({ path: write("fine.yaml", "dryRun: false\n"), env, ...(overrides === undefined ? {} : { overrides }) }),
      );
      expect(errors).toHaveLength(1);
      const e = errors[0] as ConfigError;
      expect(e.key).toBe(key);
      expect(e.file).toBe(key.startsWith("--") ? "command line" : "environment");
      expect(e.message).toMatch(message);
      expect(formatConfigError(e)).toMatch(new RegExp(`^(environment|command line): ${key.replace(/[-]/g, "\\-")}: `));
    });
  }

  it("under systemd socket activation the inherited socket wins over any address", () => {
    const env = { LISTEN_PID: "4242", LISTEN_FDS: "1", LISTEN_FDNAMES: "metrics", CGWATCH_METRICS_LISTEN: "0.0.0.0:1" };
    expect(ok(load({ env, pid: 4242 })).metrics.listen).toEqual({ kind: "systemd", fd: 3, name: "metrics" });
    // LISTEN_* meant for another process (inherited by a child) is ignored.
    expect(ok(load({ env, pid: 4243 })).metrics.listen).toEqual({ kind: "tcp", host: "0.0.0.0", port: 1 });
  });
});
