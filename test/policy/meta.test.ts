import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { compilePolicies, compilePolicy } from "../../src/policy/compile.js";
import { compileMatch, locateMetaProblem, mergeParams, validateMeta } from "../../src/policy/meta.js";
import { DEFAULT_LIMITS } from "../../src/policy/types.js";

describe("validateMeta", () => {
  it("accepts a full meta and parses the cooldown", () => {
    const r = validateMeta({
      name: "oom-rescue",
      on: ["under_oom", "memory_max"],
      match: ["docker/*"],
      cooldown: "30s",
      params: { a: 1 },
    });
    expect(r).toEqual({
      kind: "ok",
      meta: {
        name: "oom-rescue",
        on: ["under_oom", "memory_max"],
        match: ["docker/*"],
        cooldownMs: 30_000,
        params: { a: 1 },
        description: null,
      },
    });
  });

  it("defaults match to every cgroup and cooldown to none; accepts ms numbers", () => {
    const r = validateMeta({ name: "p", on: ["sample"], cooldown: 1500 });
    expect(r).toMatchObject({ kind: "ok", meta: { match: ["**"], cooldownMs: 1500, params: {} } });
  });

  it.each([
    [null, /must be an exported object/],
    [{ on: ["sample"] }, /meta\.name/],
    [{ name: "Bad Name", on: ["sample"] }, /meta\.name/],
    [{ name: "p", on: [] }, /meta\.on must be a non-empty array/],
    [{ name: "p", on: ["under_om"] }, /unknown event kind "under_om"/],
    [{ name: "p", on: ["sample"], match: "docker/*" }, /meta\.match must be a non-empty array/],
    [{ name: "p", on: ["sample"], match: ["../etc"] }, /meta\.match: .*\.\./],
    [{ name: "p", on: ["sample"], cooldown: "30 parsecs" }, /meta\.cooldown: not a duration/],
    [{ name: "p", on: ["sample"], params: [1] }, /meta\.params must be an object/],
    [{ name: "p", on: ["sample"], cooldwon: "1s" }, /meta\.cooldwon: unknown key/],
  ])("rejects %j", (raw, reason) => {
    const r = validateMeta(raw);
    expect(r.kind).toBe("invalid");
    if (r.kind === "invalid") expect(r.reason).toMatch(reason);
  });
});

describe("compileMatch", () => {
  it("matches any of the globs", () => {
    const m = compileMatch(["docker/*", "system.slice/*.service", "kubepods.slice/**"]);
    expect(m("docker/abc")).toBe(true);
    expect(m("docker/abc/def")).toBe(false);
    expect(m("system.slice/nginx.service")).toBe(true);
    expect(m("system.slice/nginx.socket")).toBe(false);
    expect(m("kubepods.slice/a/b/c")).toBe(true);
    expect(m("user.slice")).toBe(false);
  });
});

describe("mergeParams", () => {
  it("overrides shallowly and reports undeclared keys", () => {
    expect(mergeParams({ a: 1, b: { c: 2 } }, { b: { d: 3 }, z: 0 })).toEqual({
      params: { a: 1, b: { d: 3 }, z: 0 },
      unknownKeys: ["z"],
    });
    expect(mergeParams({ a: 1 }, undefined)).toEqual({ params: { a: 1 }, unknownKeys: [] });
  });
});

describe("every meta problem, located", () => {
  const SOURCE = [
    "// a policy with three meta problems",
    "export const meta = {",
    '  name: "Bad Name",',
    '  on: ["sample", "under_om"],',
    '  cooldown: "30 parsecs",',
    "};",
    "export function onEvent() { return []; }",
    "",
  ].join("\n");

  it("validateMeta names all three problems, not only the first", () => {
    const r = validateMeta({ name: "Bad Name", on: ["sample", "under_om"], cooldown: "30 parsecs" });
    expect(r.kind).toBe("invalid");
    if (r.kind !== "invalid") return;
    expect(r.problems.map((p) => p.key)).toEqual(["name", "on", "cooldown"]);
    expect(r.reason).toMatch(/meta\.name .*; meta\.on: unknown event kind "under_om"; meta\.cooldown: not a duration/);
  });

  it("locateMetaProblem points at the key, or at the offending array element, in 1-based line:col", () => {
    const r = validateMeta({ name: "Bad Name", on: ["sample", "under_om"], cooldown: "30 parsecs" });
    if (r.kind !== "invalid") throw new Error("expected invalid");
    expect(r.problems.map((p) => locateMetaProblem(SOURCE, p))).toEqual([
      { line: 3, column: 3 },
      { line: 4, column: 18 },
      { line: 5, column: 3 },
    ]);
    expect(locateMetaProblem(SOURCE, { key: null, message: "" })).toEqual({ line: 2, column: 1 });
    expect(locateMetaProblem("const meta = 1;", { key: "on", message: "" })).toBeNull();
  });

  it("cgwatch check's compiler reports each problem as file:line:col, and the engine's single error names them all", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-meta-"));
    const file = path.join(dir, "bad.js");
    fs.writeFileSync(file, SOURCE);
    try {
      const checked = await compilePolicies([dir]);
      expect(checked.errors.map((e) => e.text.replace(`${file}:`, ""))).toEqual([
        expect.stringMatching(/^3:3: meta\.name must be a lower-case name/),
        '4:18: meta.on: unknown event kind "under_om"',
        expect.stringMatching(/^5:3: meta\.cooldown: not a duration/),
      ]);
      const one = await compilePolicy({ file, source: SOURCE }, DEFAULT_LIMITS);
      expect(one.kind).toBe("error");
      if (one.kind === "error") {
        expect(one.error).toMatchObject({ line: 3, column: 3 });
        expect(one.error.text).toMatch(
          /^.*bad\.js:3:3: meta\.name .*; meta\.on: unknown event kind "under_om" \(at 4:18\); meta\.cooldown: .* \(at 5:3\)$/,
        );
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("compileMatch of match-all globs", () => {
  it('"**" (and "**/**", "/**/") match every cgroup, the root included, as the glob itself does', () => {
    for (const g of ["**", "**/**", "/**/"]) {
      const m = compileMatch([g]);
      for (const c of ["", "a", "docker/x", "a/b/c/d"]) expect(m(c)).toBe(true);
    }
    const notAll = compileMatch(["**/x"]);
    expect([notAll("x"), notAll("a/x"), notAll("a")]).toEqual([true, true, false]);
    expect(compileMatch([""])("a")).toBe(false);
  });
});
