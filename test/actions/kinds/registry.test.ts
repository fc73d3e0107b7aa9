/**
 * The registry of action kinds is the one place a kind is declared: a kind
 * registered here, in the test and nowhere in src, is validated by both
 * validators, planned, allowed by the guarded writer and written on a fake
 * tree through the executor, with no other source edit. And the registry
 * holds each kind to its declaration (fields, files it writes).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createActionExecutor } from "../../../src/actions/executor.js";
import { BYTES_FIELD } from "../../../src/actions/kinds/fields.js";
import {
  ACTION_REGISTRY,
  BUILTIN_ACTION_KINDS,
  createActionRegistry,
  type ActionKindDef,
} from "../../../src/actions/kinds/index.js";
import {
  limitOf,
  mem,
  missing,
  planOf,
  toBytes,
  unsupported,
  v2Bytes,
  write,
} from "../../../src/actions/kinds/planKit.js";
import type { Action, BytesOrMax } from "../../../src/actions/types.js";
import { validateAction as executorCheck } from "../../../src/actions/validate.js";
import { WRITABLE_FILES, createGuardedWriter } from "../../../src/cgroup/writer.js";
import { validateResult } from "../../../src/policy/validate.js";
import { fakeHost, type FakeHost } from "../../helpers/fakeCgroupfs.js";
import { MiB, OPEN_GUARDRAILS, captureLog, fakeClock, proposal } from "../helpers.js";

/** A kind cgwatch does not ship: v2 memory.min (hard protection), v1 has none. One declaration, as a src module would hold it. */
type SetMemoryMin = { readonly kind: "set_memory_min"; readonly bytes: BytesOrMax };
const setMemoryMin: ActionKindDef<SetMemoryMin> = {
  kind: "set_memory_min",
  fields: { bytes: BYTES_FIELD },
  scope: "memory",
  writes: { 1: [], 2: [mem("memory.min")] },
  reads: (_action, version) => (version === 1 ? [] : [mem("memory.min")]),
  plan(action, version, current) {
    if (version === 1) return unsupported("memory.min is cgroup v2 only");
    if (limitOf(current, "memory.min") === undefined)
      return missing("memory.min", "is the memory controller enabled for this cgroup?");
    return planOf(version, [write("memory", "memory.min", v2Bytes(toBytes(action.bytes)))]);
  },
};
/** The one registry line. */
const registry = createActionRegistry([...BUILTIN_ACTION_KINDS, setMemoryMin]);
const MIN = { kind: "set_memory_min", bytes: 16 * MiB } as const;

const hosts: FakeHost[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function v2Host(): FakeHost {
  const host = fakeHost(2);
  hosts.push(host);
  host.addCgroup("app");
  return host;
}

describe("a test-only action kind: one declaration and one registry line", () => {
  it("is validated by the policy host and the executor alike, with the same messages", () => {
    expect(validateResult([MIN], 8, registry)).toEqual({ kind: "ok", actions: [MIN] });
    expect(executorCheck(MIN as unknown as Action, registry)).toBeNull();
    const bad: [unknown, RegExp][] = [
      [{ kind: "set_memory_min", bytes: -1 }, /^set_memory_min\.bytes must be within 0\.\.1125899906842624, got -1$/],
      [{ kind: "set_memory_min", bytes: "1g" }, /^set_memory_min\.bytes must be "max" or an integer, got "1g"$/],
      [{ kind: "set_memory_min" }, /^set_memory_min: missing field "bytes"$/],
      [{ kind: "set_memory_min", bytes: 1, byte: 1 }, /^set_memory_min: unknown field "byte"$/],
    ];
    for (const [action, reason] of bad) {
      const byPolicyHost = validateResult([action], 8, registry);
      expect(byPolicyHost).toMatchObject({ kind: "invalid" });
      if (byPolicyHost.kind === "invalid") expect(byPolicyHost.reason.replace(/^action \[0\]: /, "")).toMatch(reason);
      expect(executorCheck(action as Action, registry)).toMatch(reason);
    }
    // The shipped registry does not know it: registering it is what made it valid.
    expect(validateResult([MIN], 8)).toEqual({
      kind: "invalid",
      reason: 'action [0]: unknown action kind "set_memory_min"',
    });
  });

  it("is planned per cgroup version from its own module", () => {
    expect(registry.scopeOf(MIN)).toBe("memory");
    expect(registry.readsFor(MIN, 2)).toEqual([{ scope: "memory", file: "memory.min" }]);
    const current = new Map([["memory.min", "0\n"]]);
    expect(registry.plan(MIN, 2, current)).toMatchObject({
      kind: "plan",
      steps: [{ kind: "write", at: { file: "memory.min" }, value: String(16 * MiB) }],
    });
    expect(registry.plan(MIN, 1, new Map())).toEqual({ kind: "unsupported", reason: "memory.min is cgroup v2 only" });
  });

  it("is allowed by the guarded writer built on its registry, and only there", () => {
    const host = v2Host();
    expect(registry.writable.byController.memory).toContain("memory.min");
    expect(WRITABLE_FILES.memory).not.toContain("memory.min");
    const shipped = createGuardedWriter(host.layout, "/proc");
    const target = { kind: "cgroup_file", cgroup: "app", controller: "memory", file: "memory.min" } as const;
    expect(shipped.write(target, "1")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
      reason: "file memory.min is not writable for controller memory",
    });
    expect(host.read("app", "memory.min")).toBe("0\n");
  });

  it("is written through the executor and the guarded writer on a fake v2 tree, and read back", () => {
    const host = v2Host();
    const procRoot = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-proc-"));
    dirs.push(procRoot);
    const log = captureLog();
    const exec = createActionExecutor({
      layout: host.layout,
      writer: createGuardedWriter(host.layout, procRoot, {}, registry.writable),
      procRoot,
      guardrails: { global: OPEN_GUARDRAILS },
      logger: log.logger,
      clock: fakeClock(),
      hostMemoryBytes: 8192 * MiB,
      ownCgroups: ["cgwatch-self"],
      registry,
    });
    const outcome = exec.execute(proposal("app", MIN as unknown as Action));
    expect(outcome).toEqual({ kind: "applied", before: "0", after: String(16 * MiB) });
    expect(host.read("app", "memory.min")).toBe(String(16 * MiB));
    expect(log.lines).toEqual([
      expect.objectContaining({
        msg: "action decision",
        action: "set_memory_min",
        outcome: "applied",
        cgroupVersion: 2,
      }),
    ]);
    // Its guardrails are the shared ones: a bad value is refused before any read or write.
    expect(exec.execute(proposal("app", { kind: "set_memory_min", bytes: -5 } as unknown as Action))).toMatchObject({
      kind: "rejected",
      guardrail: "invalid_action",
    });
  });
});

describe("the registry holds each kind to its declaration", () => {
  it("refuses a plan that writes a file its kind does not declare, before anything is written", () => {
    const liar: ActionKindDef<{ readonly kind: "liar" }> = {
      kind: "liar",
      fields: {},
      scope: "memory",
      writes: { 1: [], 2: [mem("memory.high")] },
      reads: () => [],
      plan: (_action, version) => planOf(version, [write("memory", "memory.max", "1")]),
    };
    const r = createActionRegistry([liar]);
    expect(r.plan({ kind: "liar" }, 2, new Map())).toEqual({
      kind: "unsupported",
      reason: "liar planned a write to memory.max, which it does not declare for cgroup v2",
    });
  });

  it("refuses a kind registered twice", () => {
    expect(() => createActionRegistry([setMemoryMin, setMemoryMin])).toThrow(
      "action kind set_memory_min is registered twice",
    );
  });

  it("does not take inherited names for fields", () => {
    expect(ACTION_REGISTRY.check({ kind: "freeze", toString: 1 })).toEqual({
      kind: "invalid",
      reason: 'freeze: unknown field "toString"',
    });
    expect(ACTION_REGISTRY.check({ kind: "constructor" })).toEqual({
      kind: "invalid",
      reason: 'unknown action kind "constructor"',
    });
  });

  it("the writer's allow-list is exactly the union of the files the shipped kinds declare", () => {
    const declared = new Set(
      BUILTIN_ACTION_KINDS.flatMap((d) => [...d.writes[1], ...d.writes[2]]).map((a) => `${a.scope}/${a.file}`),
    );
    const allowed = new Set([
      ...Object.entries(ACTION_REGISTRY.writable.byController).flatMap(([c, files]) => files.map((f) => `${c}/${f}`)),
      ...ACTION_REGISTRY.writable.v2Core.map((f) => `v2_core/${f}`),
    ]);
    expect(allowed).toEqual(declared);
    expect(ACTION_REGISTRY.writable.v2Core).toEqual(["cgroup.freeze", "cgroup.kill"]);
  });
});
