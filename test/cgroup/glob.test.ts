import { describe, expect, it } from "vitest";
import { compileCgroupGlob, literalPrefix, maxDepthBelowPrefix } from "../../src/cgroup/glob.js";

describe("cgroup globs", () => {
  const cases: [string, string, boolean][] = [
    ["docker/*", "docker/abc", true],
    ["docker/*", "docker", false],
    ["docker/*", "docker/abc/def", false],
    ["docker/*", "dockerx/abc", false],
    ["system.slice/*.service", "system.slice/nginx.service", true],
    ["system.slice/*.service", "system.slice/nginx.socket", false],
    ["system.slice/*.service", "systemXslice/nginx.service", false],
    ["kubepods.slice/**", "kubepods.slice/a/b/c", true],
    ["kubepods.slice/**", "kubepods.slice", true],
    ["kubepods.slice/**", "other/a", false],
    ["**", "", true],
    ["**", "a/b", true],
    ["a/**/leaf", "a/leaf", true],
    ["a/**/leaf", "a/x/y/leaf", true],
    ["a/**/leaf", "a/x/y/notleaf", false],
    ["/docker/*/", "docker/abc", true],
    ["pod?", "pod1", true],
    ["pod?", "pod12", false],
  ];
  it.each(cases)("%s matches %j → %s", (pattern, cgroup, expected) => {
    expect(compileCgroupGlob(pattern)(cgroup)).toBe(expected);
  });
  it("refuses patterns that climb out of the root", () => {
    expect(() => compileCgroupGlob("../etc/*")).toThrow(/\.\./);
  });
  it.each([
    ["docker/*", "docker", 1],
    ["system.slice/*.service", "system.slice", 1],
    ["kubepods.slice/**", "kubepods.slice", Infinity],
    ["**", "", Infinity],
    ["a/b/c", "a/b", 1],
  ])("%s walks from %j to depth %s", (pattern, prefix, depth) => {
    expect(literalPrefix(pattern)).toBe(prefix);
    expect(maxDepthBelowPrefix(pattern)).toBe(depth);
  });
});
