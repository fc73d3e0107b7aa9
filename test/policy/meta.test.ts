import { describe, expect, it } from "vitest";
import { compileMatch, mergeParams, validateMeta } from "../../src/policy/meta.js";

describe("validateMeta", () => {
  it("accepts a full meta and parses the cooldown", () => {
    const r = validateMeta({ name: "oom-rescue", on: ["under_oom", "memory_max"], match: ["docker/*"], cooldown: "30s", params: { a: 1 } });
    expect(r).toEqual({
      kind: "ok",
      meta: { name: "oom-rescue", on: ["under_oom", "memory_max"], match: ["docker/*"], cooldownMs: 30_000, params: { a: 1 }, description: null },
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
    expect(mergeParams({ a: 1, b: { c: 2 } }, { b: { d: 3 }, z: 0 })).toEqual({ params: { a: 1, b: { d: 3 }, z: 0 }, unknownKeys: ["z"] });
    expect(mergeParams({ a: 1 }, undefined)).toEqual({ params: { a: 1 }, unknownKeys: [] });
  });
});
