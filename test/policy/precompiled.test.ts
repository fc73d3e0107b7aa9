/**
 * The preflight's sandboxes handed to the engine (policy/precompiled.ts): the first load adopts a
 * sandbox only for the same file, source and limits, compiles anything else as before, releases what
 * it did not adopt, and a later reload always compiles. Compiles are counted on PolicySandbox.create.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { compilePolicies } from "../../src/policy/compile.js";
import { createPolicyEngine } from "../../src/policy/engine.js";
import { PolicySandbox } from "../../src/policy/sandbox.js";
import { policy, policyDir, recordingLogger, sample, snapshot } from "./support.js";

const A = policy("a", `return [{ kind: "annotate", message: "a1" }];`);
const B = policy("b", `return [{ kind: "annotate", message: "b1" }];`);

/** Every sandbox created from now on, and how often each was disposed. */
function countSandboxes() {
  const create = vi.spyOn(PolicySandbox, "create");
  const dispose = vi.spyOn(PolicySandbox.prototype, "dispose");
  return {
    creates: () => create.mock.calls.length,
    created: async (): Promise<PolicySandbox[]> => {
      const results = await Promise.all(
        create.mock.results.map((r) => r.value as ReturnType<typeof PolicySandbox.create>),
      );
      return results.flatMap((r) => (r.kind === "ok" ? [r.sandbox] : []));
    },
    disposals: (sb: PolicySandbox): number => dispose.mock.contexts.filter((c) => c === sb).length,
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

const messages = (engine: Awaited<ReturnType<typeof createPolicyEngine>>): string[] =>
  engine
    .evaluate(sample("x"), snapshot("x"))
    .map((p) => (p.action.kind === "annotate" ? p.action.message : p.action.kind));

describe("the engine adopts the preflight's sandboxes", () => {
  it("compiles nothing for unchanged files; a hot reload of a changed file compiles it; close disposes each sandbox once", async () => {
    const dir = policyDir({ "a.js": A, "b.js": B });
    const count = countSandboxes();
    const { precompiled } = await compilePolicies([dir], { keep: true });
    expect(precompiled?.size).toBe(2);
    expect(count.creates()).toBe(2);
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      ...(precompiled === null ? {} : { precompiled }),
    });
    expect(count.creates()).toBe(2);
    expect(precompiled?.size).toBe(0);
    expect(messages(engine)).toEqual(["a1", "b1"]);
    fs.writeFileSync(path.join(dir, "a.js"), A.replace("a1", "a2"));
    const report = await engine.reload();
    expect(report.results.map((r) => `${r.policy}:${r.result.kind}`)).toEqual(["a:updated", "b:unchanged"]);
    expect(count.creates()).toBe(3);
    expect(messages(engine)).toEqual(["a2", "b1"]);
    engine.close();
    const created = await count.created();
    expect(created.map((sb) => count.disposals(sb))).toEqual([1, 1, 1]);
  });

  it("a file edited after the preflight is compiled again from what is on disk; the stale sandbox is disposed", async () => {
    const dir = policyDir({ "a.js": A, "b.js": B });
    const count = countSandboxes();
    const { precompiled } = await compilePolicies([dir], { keep: true });
    fs.writeFileSync(path.join(dir, "b.js"), B.replace("b1", "b2"));
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      ...(precompiled === null ? {} : { precompiled }),
    });
    expect(count.creates()).toBe(3);
    expect(messages(engine)).toEqual(["a1", "b2"]);
    const [a, staleB, b] = await count.created();
    expect([a, staleB, b].map((sb) => count.disposals(sb as PolicySandbox))).toEqual([0, 1, 0]);
    engine.close();
    expect([a, staleB, b].map((sb) => count.disposals(sb as PolicySandbox))).toEqual([1, 1, 1]);
  });

  it("sandboxes compiled under other limits are not adopted (the limits live in the instance)", async () => {
    const dir = policyDir({ "a.js": A });
    const count = countSandboxes();
    const { precompiled } = await compilePolicies([dir], { keep: true, limits: { deadlineMs: 20 } });
    const engine = await createPolicyEngine({
      dirs: [dir],
      logger: recordingLogger().logger,
      limits: { deadlineMs: 30 },
      ...(precompiled === null ? {} : { precompiled }),
    });
    expect(count.creates()).toBe(2);
    engine.close();
    const created = await count.created();
    expect(created.map((sb) => count.disposals(sb))).toEqual([1, 1]);
  });

  it("without keep (cgwatch check) every sandbox is disposed at once", async () => {
    const dir = policyDir({ "a.js": A, "b.js": B, "dup.js": policy("a", "return [];") });
    const count = countSandboxes();
    const { precompiled, errors } = await compilePolicies([dir]);
    expect(precompiled).toBeNull();
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining(`policy name "a" is already used`) as unknown,
    ]);
    const created = await count.created();
    expect(created.map((sb) => count.disposals(sb))).toEqual([1, 1, 1]);
  });

  it("with keep, a duplicate name's sandbox is disposed and a released set disposes later arrivals", async () => {
    const dir = policyDir({ "a.js": A, "dup.js": policy("a", "return [];") });
    const count = countSandboxes();
    const { precompiled } = await compilePolicies([dir], { keep: true });
    expect(precompiled?.size).toBe(1);
    precompiled?.release();
    precompiled?.release();
    const created = await count.created();
    expect(created.map((sb) => count.disposals(sb))).toEqual([1, 1]);
  });
});
