import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { WatchdogEvent } from "../../src/events/types.js";
import { compilePolicies } from "../../src/policy/compile.js";
import { createPolicyEngine } from "../../src/policy/engine.js";
import type { EvaluationOutcome, ReloadResult } from "../../src/policy/types.js";
import { policy, policyDir, recordingLogger, sample, snapshot } from "./support.js";

const COUNTER = policy(
  "counter",
  `ctx.state.n = (ctx.state.n || 0) + 1; return [{ kind: "annotate", message: "v1 n=" + ctx.state.n }];`,
);

function messages(engine: Awaited<ReturnType<typeof createPolicyEngine>>, cgroup: string, at = 1000): string[] {
  return engine
    .evaluate({ kind: "sample", cgroup, at, source: "poll" }, snapshot(cgroup))
    .map((p) => (p.action.kind === "annotate" ? p.action.message : p.action.kind));
}

describe("quarantine", () => {
  it("stops calling a policy after N consecutive failures, reports it, and a reload lifts it", async () => {
    const dir = policyDir({
      "flaky.js": policy(
        "flaky",
        `if (ctx.params.fail) throw new Error("boom"); return [];`,
        `, params: { fail: true }`,
      ),
    });
    const quarantined: string[] = [];
    const outcomes: EvaluationOutcome[] = [];
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      limits: { quarantineAfter: 3 },
      hooks: {
        onQuarantine: (p, reason) => quarantined.push(`${p}: ${reason}`),
        onEvaluation: (_p, o) => outcomes.push(o),
      },
    });
    for (let i = 0; i < 5; i++) engine.evaluate(sample("a"), snapshot("a"));
    expect(outcomes).toEqual(["error", "error", "error"]);
    expect(quarantined).toEqual([
      expect.stringMatching(/^flaky: 3 consecutive failures, last: error: Error: boom/) as unknown,
    ]);
    expect(engine.wantsEvent("sample", "a")).toBe(false);
    expect(engine.policies()[0]).toMatchObject({ name: "flaky", quarantined: true, failures: 3, calls: 3 });
    const report = await engine.reload();
    expect(report.results).toEqual([expect.objectContaining({ policy: "flaky", result: { kind: "updated" } })]);
    expect(engine.wantsEvent("sample", "a")).toBe(true);
    engine.close();
  });

  it("counts only consecutive failures: a success in between resets the count", async () => {
    const dir = policyDir({ "alt.js": policy("alt", `if (event.at % 2 === 0) throw new Error("even"); return [];`) });
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      limits: { quarantineAfter: 2 },
    });
    for (let at = 1; at <= 10; at++) engine.evaluate(sample("a", at), snapshot("a"));
    expect(engine.policies()[0]).toMatchObject({ quarantined: false, failures: 5, consecutiveFailures: 1 });
    engine.close();
  });
});

describe("cooldown", () => {
  it("skips a cgroup after it got actions until the cooldown passes, per cgroup, on the events' clock", async () => {
    const dir = policyDir({ "cd.js": policy("cd", `return [{ kind: "thaw" }];`, `, cooldown: "30s"`) });
    const outcomes: string[] = [];
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      hooks: { onEvaluation: (_p, o) => outcomes.push(o) },
    });
    expect(messages(engine, "a", 0)).toEqual(["thaw"]);
    expect(messages(engine, "a", 29_999)).toEqual([]);
    expect(messages(engine, "b", 29_999)).toEqual(["thaw"]);
    expect(messages(engine, "a", 30_000)).toEqual(["thaw"]);
    expect(outcomes).toEqual(["ok", "skipped_cooldown", "ok", "ok"]);
    engine.close();
  });

  it("a stall under OOM (underOom: true) is never held back by the cooldown; its proposals are marked emergency", async () => {
    const dir = policyDir({
      "cd.js": policy("cd", `return [{ kind: "thaw" }];`, `, cooldown: "30s", on: ["under_oom", "sample"]`),
    });
    const engine = await createPolicyEngine({ dirs: [dir], logger: recordingLogger().logger });
    const stall = (at: number, underOom = true): WatchdogEvent => ({
      kind: "under_oom",
      cgroup: "a",
      at,
      source: "eventfd",
      underOom,
      oomKillDisable: true,
      stalledMs: 0,
    });
    expect(engine.evaluate(stall(0), snapshot("a")).map((p) => p.cause)).toEqual([
      { kind: "under_oom", at: 0, emergency: true },
    ]);
    expect(engine.evaluate(stall(5), snapshot("a"))).toHaveLength(1);
    // Ordinary events still wait, and so does a recovery.
    expect(messages(engine, "a", 10)).toEqual([]);
    expect(engine.evaluate(stall(15, false), snapshot("a"))).toEqual([]);
    engine.close();
  });

  it("policies.cooldowns overrides meta.cooldown by policy name", async () => {
    const dir = policyDir({ "cd.js": policy("cd", `return [{ kind: "thaw" }];`, `, cooldown: "30s"`) });
    const engine = await createPolicyEngine({ dirs: [dir], logger: recordingLogger().logger, cooldowns: { cd: 1000 } });
    expect(engine.policies()[0]?.cooldownMs).toBe(1000);
    expect(messages(engine, "a", 0)).toEqual(["thaw"]);
    expect(messages(engine, "a", 999)).toEqual([]);
    expect(messages(engine, "a", 1000)).toEqual(["thaw"]);
    // A reload of the config (SIGHUP) replaces the overrides from the next proposal on; without one, meta.cooldown applies again.
    engine.setCooldowns({ cd: 5000 });
    expect(engine.policies()[0]?.cooldownMs).toBe(5000);
    expect(messages(engine, "a", 2000)).toEqual(["thaw"]);
    expect(messages(engine, "a", 6999)).toEqual([]);
    expect(messages(engine, "a", 7000)).toEqual(["thaw"]);
    engine.setCooldowns({});
    expect(engine.policies()[0]?.cooldownMs).toBe(30_000);
    engine.close();
  });

  it("does not start when the policy proposes nothing", async () => {
    const dir = policyDir({
      "quiet.js": policy(
        "quiet",
        `ctx.state.n = (ctx.state.n || 0) + 1; return ctx.state.n >= 2 ? [{ kind: "thaw" }] : [];`,
        `, cooldown: 60000`,
      ),
    });
    const engine = await createPolicyEngine({ dirs: [dir], logger: recordingLogger().logger });
    expect(messages(engine, "a")).toEqual([]);
    expect(messages(engine, "a")).toEqual(["thaw"]);
    expect(messages(engine, "a")).toEqual([]);
    expect(engine.policies()[0]?.calls).toBe(2);
    engine.close();
  });
});

describe("state", () => {
  it("is kept per cgroup, dropped on cgroup_removed, and bounded in size", async () => {
    const dir = policyDir({
      "counter.js": COUNTER,
      "hoarder.js": policy("hoarder", `ctx.state.blob = "x".repeat(event.at); return [];`),
    });
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      limits: { maxStateBytes: 1000 },
    });
    expect(messages(engine, "a")).toEqual(["v1 n=1"]);
    expect(messages(engine, "a")).toEqual(["v1 n=2"]);
    expect(messages(engine, "b")).toEqual(["v1 n=1"]);
    const removed: WatchdogEvent = { kind: "cgroup_removed", cgroup: "a", at: 5, source: "inotify" };
    engine.evaluate(removed, snapshot("a"));
    expect(messages(engine, "a")).toEqual(["v1 n=1"]);
    const big = engine.evaluateDetailed(sample("c", 2000), snapshot("c")).find((r) => r.policy === "hoarder");
    expect(big).toMatchObject({
      outcome: "invalid_output",
      reason: expect.stringMatching(/policy hoarder: ctx\.state is \d+ B, over the 1000 B cap/) as unknown,
    });
    engine.close();
  });

  it("freezes the event, snapshot and params inside the sandbox", async () => {
    const dir = policyDir({
      "mutator.js": policy(
        "mutator",
        `"use strict"; const tries = [() => { event.kind = "x"; }, () => { cgroup.labels.tier = "x"; }, () => { ctx.params.k = 2; }];
  return [{ kind: "annotate", message: tries.map((t) => { try { t(); return "mutated"; } catch (e) { return e.name; } }).join(",") }];`,
        `, params: { k: 1 }`,
      ),
    });
    const engine = await createPolicyEngine({ dirs: [dir], logger: recordingLogger().logger });
    expect(messages(engine, "a")).toEqual(["TypeError,TypeError,TypeError"]);
    engine.close();
  });
});

describe("ctx.log", () => {
  it("logs under { policy } with the policy's fields under policyFields, rate-limited per call", async () => {
    const dir = policyDir({
      "chatty.js": policy(
        "chatty",
        `for (let i = 0; i < 15; i++) ctx.log(i === 0 ? "warn" : "bogus", "msg " + i, { i, level: "fatal", policy: "spoof" }); return [];`,
      ),
    });
    const rec = recordingLogger();
    const engine = await createPolicyEngine({ dirs: [dir], logger: rec.logger, limits: { maxLogsPerCall: 10 } });
    engine.evaluate(sample("docker/a"), snapshot("docker/a"));
    const mine = rec.lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("msg "));
    expect(mine).toHaveLength(10);
    expect(mine[0]).toMatchObject({
      level: 40,
      policy: "chatty",
      cgroup: "docker/a",
      event: "sample",
      policyFields: { i: 0, level: "fatal", policy: "spoof" },
    });
    // An unknown level becomes info; the policy's own "level"/"policy" keys never reach the top level.
    expect(mine[1]).toMatchObject({ level: 30, policy: "chatty" });
    expect(rec.lines.find((l) => l.dropped !== undefined)).toMatchObject({ policy: "chatty", dropped: 5 });
    engine.close();
  });
});

describe("loading and hot reload", () => {
  it("reports compile errors as file:line:col and keeps the healthy policies", async () => {
    const dir = policyDir({
      "good.js": COUNTER,
      "syntax.js": `export const meta = { name: "syntax", on: ["sample"] };\nexport function onEvent(e) {\n  return [1;\n}\n`,
      "throws.js": `export const meta = { name: "throws", on: ["sample"] };\nconst x = null;\nx.boom();\nexport function onEvent() {}\n`,
      "badmeta.js": `export const meta = { name: "badmeta", on: ["under_om"] };\nexport function onEvent() {}\n`,
      "nofn.js": `export const meta = { name: "nofn", on: ["sample"] };\n`,
      "imports.js": `import fs from "node:fs";\nexport const meta = { name: "imports", on: ["sample"] };\nexport function onEvent() {}\n`,
      "loops.js": `for (;;) {}\nexport const meta = { name: "loops", on: ["sample"] };\nexport function onEvent() {}\n`,
      "dup.js": COUNTER,
    });
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      limits: { compileDeadlineMs: 1000 },
    }); // room for the healthy modules on a loaded machine
    const texts = engine.loadReport.errors.map((e) => e.text.replace(dir + path.sep, ""));
    expect(texts.sort()).toEqual(
      [
        "syntax.js:3:12: SyntaxError: expecting ']'",
        "throws.js:3:2: TypeError: cannot read property 'boom' of null",
        'badmeta.js:1:45: meta.on: unknown event kind "under_om"',
        "nofn.js: the module must export a function `onEvent(event, cgroup, ctx)`",
        "imports.js: ReferenceError: could not load module 'node:fs'",
        "loops.js: top-level code ran past its 1000 ms budget",
        `good.js: policy name "counter" is already used by ${path.join(dir, "dup.js")}`,
      ].sort(),
    );
    expect(engine.policies().map((p) => p.name)).toEqual(["counter"]);
    expect(messages(engine, "a")).toEqual(["v1 n=1"]);
    engine.close();
  });

  it("swaps in a changed file, keeps state, and keeps the old version running when the new one is broken", async () => {
    const dir = policyDir({ "counter.js": COUNTER });
    const file = path.join(dir, "counter.js");
    const reloads: Array<[string, ReloadResult["kind"]]> = [];
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      hooks: { onReload: (p, r) => reloads.push([p, r.kind]) },
    });
    expect(messages(engine, "a")).toEqual(["v1 n=1"]);
    fs.writeFileSync(file, COUNTER.replace('"v1 n="', '"v2 n="'));
    expect((await engine.reload()).results.map((r) => r.result.kind)).toEqual(["updated"]);
    expect(messages(engine, "a")).toEqual(["v2 n=2"]);
    fs.writeFileSync(file, COUNTER.replace('"v1 n="', '"v3 n=" +)'));
    const broken = await engine.reload();
    expect(broken.errors.map((e) => e.text)).toEqual([
      `${file}:3:85: SyntaxError: unexpected token in expression: ')'`,
    ]);
    expect(broken.results[0]?.result).toMatchObject({ kind: "failed", keptPrevious: true });
    expect(messages(engine, "a")).toEqual(["v2 n=3"]);
    fs.rmSync(file);
    await engine.reload();
    expect(engine.policies()).toEqual([]);
    expect(reloads).toEqual([
      ["counter", "loaded"],
      ["counter", "updated"],
      ["counter", "failed"],
      ["counter", "removed"],
    ]);
    engine.close();
  });

  it("watches the directory and hot-reloads a changed file", async () => {
    const dir = policyDir({ "counter.js": COUNTER });
    let resolveReload: (r: ReloadResult) => void = () => undefined;
    const reloaded = new Promise<ReloadResult>((r) => (resolveReload = r));
    const engine = await createPolicyEngine({
      dirs: [dir],
      watch: true,
      logger: recordingLogger().logger,
      hooks: { onReload: (_p, r) => r.kind !== "loaded" && resolveReload(r) },
    });
    expect(messages(engine, "a")).toEqual(["v1 n=1"]);
    fs.writeFileSync(path.join(dir, "counter.js"), COUNTER.replace('"v1 n="', '"v2 n="'));
    expect(await reloaded).toEqual({ kind: "updated" });
    expect(messages(engine, "a")).toEqual(["v2 n=2"]);
    engine.close();
  });
});

describe("compilePolicies (cgwatch check)", () => {
  it("compiles the shipped policies without errors and reports undeclared params", async () => {
    const shipped = path.resolve(import.meta.dirname, "../../policies");
    const r = await compilePolicies([shipped], { params: { "oom-rescue": { ceilingBytes: "4g", ceilingByte: 1 } } });
    expect(r.errors).toEqual([]);
    expect(r.policies.map((p) => p.meta.name).sort()).toEqual([
      "oom-protect-critical",
      "oom-rescue",
      "pressure-relief",
      "reservation-guard",
      "throttle-burst",
    ]);
    expect(r.policies.find((p) => p.meta.name === "oom-rescue")?.unknownParams).toEqual(["ceilingByte"]);
  });

  it("refuses a memory cap below the QuickJS minimum with a clear message", async () => {
    const dir = policyDir({ "counter.js": COUNTER });
    const r = await compilePolicies([dir], { limits: { memoryBytes: 8 * 1024 * 1024 } });
    expect(r.errors[0]?.message).toMatch(/below the QuickJS minimum of 16777216 B/);
  });
});
