import { describe, expect, it } from "vitest";
import { NON_FINITE_KEY, validateResult } from "../../src/policy/validate.js";

const nan = { [NON_FINITE_KEY]: "NaN" };
const inf = { [NON_FINITE_KEY]: "Infinity" };

describe("validateResult", () => {
  it("accepts no action as undefined, null or []", () => {
    for (const r of [undefined, null, []]) expect(validateResult(r, 8)).toEqual({ kind: "ok", actions: [] });
  });

  it.each([
    [{ kind: "set_memory_limit", bytes: 1073741824 }],
    [{ kind: "set_memory_limit", bytes: "max" }],
    [{ kind: "set_memory_limit", bytes: 0, allowBelowUsage: true }],
    [{ kind: "set_memory_high", bytes: 2 ** 50 }],
    [{ kind: "set_swappiness", value: 0 }],
    [{ kind: "set_swappiness", value: 100 }],
    [{ kind: "set_oom_score_adj", value: -1000 }],
    [{ kind: "set_oom_score_adj", value: 1000 }],
    [{ kind: "set_cpu_quota", quotaUs: 150000, periodUs: 100000 }],
    [{ kind: "set_cpu_quota", quotaUs: "max" }],
    [{ kind: "set_cpuset", cpus: "0-3,8" }],
    [{ kind: "set_pids_max", max: "max" }],
    [{ kind: "set_io_throttle", device: "8:0", readBps: 1048576 }],
    [{ kind: "annotate", message: "hello", data: { a: 1, b: "x", c: true } }],
    [{ kind: "freeze" }],
  ])("accepts %j", (action) => {
    expect(validateResult([action], 8)).toEqual({ kind: "ok", actions: [action] });
  });

  it.each([
    ["a non-array result", { kind: "freeze" }, /result must be an array/],
    ["a string result", "freeze", /result must be an array/],
    ["an unknown kind", [{ kind: "reboot_host" }], /unknown action kind "reboot_host"/],
    ["a missing kind", [{ bytes: 1 }], /unknown action kind undefined/],
    ["a non-object action", [42], /not an action object: 42/],
    ["a missing field", [{ kind: "set_memory_limit" }], /missing field "bytes"/],
    ["an unknown field (typo)", [{ kind: "set_memory_limit", byte: 1 }], /unknown field "byte"/],
    ["a string size", [{ kind: "set_memory_limit", bytes: "1g" }], /bytes must be "max" or an integer, got "1g"/],
    ["NaN", [{ kind: "set_memory_limit", bytes: nan }], /got NaN/],
    ["Infinity", [{ kind: "set_swappiness", value: inf }], /got Infinity/],
    ["a negative size", [{ kind: "set_memory_limit", bytes: -1 }], /within 0\.\.1125899906842624, got -1/],
    ["a size over 1 PiB", [{ kind: "set_memory_limit", bytes: 2 ** 50 + 1 }], /got 1125899906842625/],
    ["a size over 2^53", [{ kind: "set_memory_high", bytes: 2 ** 60 }], /within/],
    ["a fractional size", [{ kind: "set_memory_limit", bytes: 1.5 }], /must be an integer, got 1.5/],
    ["swappiness 101", [{ kind: "set_swappiness", value: 101 }], /within 0\.\.100/],
    ["oom_score_adj -1001", [{ kind: "set_oom_score_adj", value: -1001 }], /within -1000\.\.1000/],
    ["a non-boolean flag", [{ kind: "set_oom_kill_disable", disable: 1 }], /must be a boolean/],
    ["a quota under 1 ms", [{ kind: "set_cpu_quota", quotaUs: 999 }], /within 1000\./],
    ["a bad cpu list", [{ kind: "set_cpuset", cpus: "0-3;rm -rf" }], /cpu\/mem list/],
    ["an empty cpuset", [{ kind: "set_cpuset" }], /needs at least one of cpus, mems/],
    ["a bad device", [{ kind: "set_io_throttle", device: "../sda", readBps: 1 }], /major:minor/],
    ["a huge annotation", [{ kind: "annotate", message: "x".repeat(2000) }], /at most 1000/],
    ["a nested annotation value", [{ kind: "annotate", message: "m", data: { a: { b: 1 } } }], /\.a must be a string/],
  ])("rejects %s", (_label, result, reason) => {
    const r = validateResult(result, 8);
    expect(r.kind).toBe("invalid");
    if (r.kind === "invalid") expect(r.reason).toMatch(reason);
  });

  it("names the index of the bad action", () => {
    const r = validateResult([{ kind: "freeze" }, { kind: "thaw" }, { kind: "set_swappiness", value: -3 }], 8);
    expect(r).toMatchObject({
      kind: "invalid",
      reason: expect.stringMatching(/^action \[2\]: set_swappiness\.value/) as unknown,
    });
  });

  it("enforces the action count at the boundary", () => {
    const n = (k: number) => Array.from({ length: k }, () => ({ kind: "thaw" }));
    expect(validateResult(n(8), 8).kind).toBe("ok");
    expect(validateResult(n(9), 8)).toEqual({ kind: "invalid", reason: "too many actions: 9 > 8" });
  });
});
