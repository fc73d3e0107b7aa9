/**
 * Hostile and careless policies: each must fail alone, with the outcome that
 * names what it did, while a healthy policy in the same engine keeps
 * answering, and the host process's memory stays bounded by the caps.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPolicyEngine, type PolicyEngine, type PolicyEvaluation } from "../../src/policy/engine.js";
import type { EvaluationOutcome } from "../../src/policy/types.js";
import { policyDir, recordingLogger, sample, snapshot } from "./support.js";

const MiB = 1024 * 1024;

/** A policy that only handles `hostile/<name>`, so each hostile is triggered on its own. */
function hostile(name: string, body: string): [string, string] {
  return [
    `${name}.js`,
    `export const meta = { name: "${name}", on: ["sample"], match: ["hostile/${name}"] };
export function onEvent(event, cgroup, ctx) {
${body}
}
`,
  ];
}

const HEALTHY: [string, string] = [
  "healthy.js",
  `export const meta = { name: "healthy", on: ["sample"], match: ["**"] };
export function onEvent(event, cgroup, ctx) {
  ctx.state.n = (ctx.state.n || 0) + 1;
  return [{ kind: "annotate", message: "seen " + event.cgroup, data: { n: ctx.state.n } }];
}
`,
];

function outcomeOf(results: PolicyEvaluation[], policy: string): PolicyEvaluation {
  const r = results.find((x) => x.policy === policy);
  if (r === undefined) throw new Error(`no result for ${policy}: ${JSON.stringify(results)}`);
  return r;
}

interface Case {
  readonly name: string;
  readonly body: string;
  readonly outcome: EvaluationOutcome;
  readonly reason: RegExp;
}

/** Cases bounded by the deadline (CPU). */
const CPU_CASES: Case[] = [
  { name: "infinite-loop", body: "for (;;) {}", outcome: "timeout", reason: /deadline/ },
  {
    name: "catch-the-interrupt",
    body: "for (;;) { try { for (;;) {} } catch (e) { /* keep going */ } }",
    outcome: "timeout",
    reason: /deadline/,
  },
  {
    name: "catastrophic-regex",
    body: `return [{ kind: "annotate", message: String(/^(a+)+$/.test("a".repeat(40) + "b")) }];`,
    outcome: "timeout",
    reason: /deadline/,
  },
  {
    name: "deep-recursion",
    body: "function f(n) { return f(n + 1) + 1; } return f(0);",
    outcome: "error",
    reason: /stack overflow/,
  },
  { name: "string-doubling", body: `let s = "x"; for (;;) s = s + s;`, outcome: "error", reason: /string too long/ },
  {
    name: "reach-require",
    body: `require("child_process").execSync("touch /tmp/cgwatch-pwned");`,
    outcome: "error",
    reason: /ReferenceError: 'require' is not defined/,
  },
  {
    name: "reach-process",
    body: "process.exit(1);",
    outcome: "error",
    reason: /ReferenceError: 'process' is not defined/,
  },
  {
    name: "function-constructor",
    body: `const g = Function("return this")(); return g.constructor.constructor("return process")().exit(1);`,
    outcome: "error",
    reason: /'process' is not defined/,
  },
  {
    name: "dynamic-import",
    body: `return import("node:fs");`,
    outcome: "invalid_output",
    reason: /result must be an array.*got an object/,
  },
  {
    name: "too-many-actions",
    body: `return Array.from({ length: 9 }, () => ({ kind: "thaw" }));`,
    outcome: "invalid_output",
    reason: /policy too-many-actions: too many actions: 9 > 8/,
  },
  {
    name: "oversized-output",
    body: `return Array.from({ length: 200 }, () => ({ kind: "annotate", message: "x".repeat(1000) }));`,
    outcome: "invalid_output",
    reason: /over the 65536 B cap/,
  },
  {
    name: "nan-size",
    body: `return [{ kind: "set_memory_limit", bytes: 0 / 0 }];`,
    outcome: "invalid_output",
    reason: /policy nan-size: .*bytes.*got NaN/,
  },
  {
    name: "throws-non-error",
    body: `throw { toString() { throw new Error("nested"); } };`,
    outcome: "error",
    reason: /non-Error thrown: <unprintable>/,
  },
  {
    name: "cyclic-result",
    body: `const a = [{ kind: "thaw" }]; a[0].self = a; return a;`,
    outcome: "error",
    reason: /not JSON-serialisable/,
  },
];

/** Cases bounded by the memory cap, run with a generous deadline so the cap, not the clock, stops them. */
const MEMORY_CASES: Case[] = [
  {
    name: "arraybuffer-bomb",
    body: "const a = []; for (;;) a.push(new ArrayBuffer(4 * 1024 * 1024));",
    outcome: "oom",
    reason: /memory cap/,
  },
  {
    name: "array-bomb",
    body: "const a = []; for (;;) a.push(new Array(1e5).fill(1.5));",
    outcome: "oom",
    reason: /memory cap/,
  },
  {
    name: "string-pile-bomb",
    body: `const a = []; for (let i = 0; ; i++) a.push("y".repeat(1 << 20) + i);`,
    outcome: "oom",
    reason: /memory cap/,
  },
  {
    name: "map-bomb",
    body: "const m = new Map(); for (let i = 0; ; i++) m.set(i, { i });",
    outcome: "oom",
    reason: /memory cap/,
  },
  {
    name: "hundred-mb-result",
    body: `return [{ kind: "annotate", message: "x".repeat(100 * 1024 * 1024) }];`,
    outcome: "oom",
    reason: /memory cap/,
  },
];

function suite(title: string, cases: Case[], deadlineMs: number): void {
  describe(title, () => {
    let engine: PolicyEngine;
    const rec = recordingLogger();
    beforeAll(async () => {
      const dir = policyDir(Object.fromEntries([HEALTHY, ...cases.map((c) => hostile(c.name, c.body))]));
      engine = await createPolicyEngine({
        dirs: [dir],
        logger: rec.logger,
        limits: { memoryBytes: 24 * MiB, deadlineMs, quarantineAfter: 100 },
      });
      expect(engine.loadReport.errors).toEqual([]);
    });
    afterAll(() => engine.close());

    it.each(cases)("$name fails alone with $outcome", async (c) => {
      const cgroup = `hostile/${c.name}`;
      const results = engine.evaluateDetailed(sample(cgroup), snapshot(cgroup));
      const bad = outcomeOf(results, c.name);
      expect(bad.outcome, bad.reason ?? "").toBe(c.outcome);
      expect(bad.reason).toMatch(c.reason);
      expect(bad.proposals).toEqual([]);
      // It ended: bounded by its deadline plus a margin for a loaded machine
      // (2 cores shared by many runs). A bound, not a benchmark: speed is measured in `npm run bench`.
      expect(bad.seconds).toBeLessThan(deadlineMs / 1000 + 15);
      // The healthy policy answered the same event...
      expect(outcomeOf(results, "healthy")).toMatchObject({
        outcome: "ok",
        proposals: [{ action: { kind: "annotate", message: `seen ${cgroup}` } }],
      });
      await engine.settled();
      // ...and the next one.
      const next = engine.evaluateDetailed(sample("docker/ok"), snapshot("docker/ok"));
      expect(next).toEqual([expect.objectContaining({ policy: "healthy", outcome: "ok" })]);
      // The failure is logged under the policy's name.
      expect(
        rec.lines.some((l) => l.policy === c.name && l.msg === "policy call failed" && l.outcome === c.outcome),
      ).toBe(true);
    });
  });
}

// 1 s, not less: the cases that must fail by their own error (stack overflow,
// string too long) and the healthy policy must finish inside the deadline
// even when this process is descheduled for a while.
suite("CPU-bounded hostile policies", CPU_CASES, 1000);
suite("memory-bounded hostile policies", MEMORY_CASES, 3000);

describe("after an OOM", () => {
  it("discards the instance, rebuilds it, and keeps ctx.state", async () => {
    const dir = policyDir({
      "flaky.js": `export const meta = { name: "flaky", on: ["sample"] };
export function onEvent(event, cgroup, ctx) {
  ctx.state.calls = (ctx.state.calls || 0) + 1;
  if (event.at === 2) { const a = []; for (;;) a.push(new ArrayBuffer(4 * 1024 * 1024)); }
  return [{ kind: "annotate", message: "calls " + ctx.state.calls }];
}
`,
    });
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      limits: { memoryBytes: 20 * MiB, deadlineMs: 3000 },
    });
    const at = (n: number) =>
      engine.evaluateDetailed({ kind: "sample", cgroup: "a", at: n, source: "poll" }, snapshot("a"));
    expect(at(1)[0]).toMatchObject({ outcome: "ok", proposals: [{ action: { message: "calls 1" } }] });
    expect(at(2)[0]?.outcome).toBe("oom");
    // Until the rebuild lands the policy is unavailable, not crashed again.
    expect(at(3)[0]?.outcome).toBe("unavailable");
    await engine.settled();
    // State from before the OOM survived (the OOMed call's state change was lost, as it should be).
    expect(at(4)[0]).toMatchObject({ outcome: "ok", proposals: [{ action: { message: "calls 2" } }] });
    engine.close();
  });
});

describe("host memory", () => {
  it("stays bounded by the caps while many instances bomb their memory", async () => {
    const n = 6;
    const cap = 20 * MiB;
    const files = Object.fromEntries(
      Array.from({ length: n }, (_, i) =>
        hostile(`bomb-${i}`, "const a = []; for (;;) a.push(new Array(1e5).fill(1.5));"),
      ).map(([f, s]) => [f, s.replace(/match: \["hostile\/bomb-\d+"\]/, 'match: ["**"]')]),
    );
    const engine = await createPolicyEngine({
      dirs: [policyDir(files)],
      logger: recordingLogger().logger,
      limits: { memoryBytes: cap, deadlineMs: 5000 },
    });
    const before = process.memoryUsage().rss;
    let peak = before;
    for (let round = 0; round < 3; round++) {
      const results = engine.evaluateDetailed(sample("x"), snapshot("x"));
      expect(results.map((r) => r.outcome)).toEqual(Array.from({ length: n }, () => "oom"));
      peak = Math.max(peak, process.memoryUsage().rss);
      await engine.settled();
    }
    engine.close();
    // Every instance may fill its cap (and a rebuilt one sits beside a not-yet-collected one): allow 3x plus slack.
    // Without the cap a single array bomb reaches ~1.5 GB.
    expect(peak - before).toBeLessThan(n * cap * 3 + 64 * MiB);
  });
});
