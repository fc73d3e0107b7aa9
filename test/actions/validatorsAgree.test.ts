/**
 * The policy host's validator and the executor's last check must agree on
 * every range: a value one accepts and the other refuses is a policy that
 * passes `cgwatch policy test` and is then rejected on the host (or the
 * reverse). Boundary table min-1 / min / max / max+1 for every ranged field.
 */
import { describe, expect, it } from "vitest";
import { validateAction as executorCheck } from "../../src/actions/validate.js";
import { ACTION_LIMITS as L, type IntRange } from "../../src/actions/limits.js";
import type { Action } from "../../src/actions/types.js";
import { validateAction as policyCheck } from "../../src/policy/validate.js";

type Build = (v: number) => Record<string, unknown>;

const RANGED: readonly [string, IntRange, Build][] = [
  ["set_memory_limit.bytes", L.bytes, (v) => ({ kind: "set_memory_limit", bytes: v })],
  ["set_swappiness.value", L.swappiness, (v) => ({ kind: "set_swappiness", value: v })],
  ["set_oom_score_adj.value", L.oomScoreAdj, (v) => ({ kind: "set_oom_score_adj", value: v })],
  ["set_cpu_quota.quotaUs", L.cpuQuotaUs, (v) => ({ kind: "set_cpu_quota", quotaUs: v })],
  ["set_cpu_quota.periodUs", L.cpuPeriodUs, (v) => ({ kind: "set_cpu_quota", quotaUs: 50_000, periodUs: v })],
  ["set_cpu_burst.burstUs", L.cpuBurstUs, (v) => ({ kind: "set_cpu_burst", burstUs: v })],
  ["set_cpu_shares.shares", L.cpuShares, (v) => ({ kind: "set_cpu_shares", shares: v })],
  ["set_pids_max.max", L.pidsMax, (v) => ({ kind: "set_pids_max", max: v })],
  ["set_io_weight.weight", L.ioWeight, (v) => ({ kind: "set_io_weight", weight: v })],
  ["set_io_throttle.readIops", L.iops, (v) => ({ kind: "set_io_throttle", device: "8:0", readIops: v })],
  ["annotate.message length", L.annotateMessageChars, (v) => ({ kind: "annotate", message: "x".repeat(v) })],
];

describe("the two action validators agree at every boundary", () => {
  for (const [name, range, build] of RANGED) {
    it.each([
      [range.min - 1, false],
      [range.min, true],
      [range.max, true],
      [range.max + 1, false],
    ])(`${name} = %d → accepted: %s`, (value, accepted) => {
      const action = build(value);
      const byPolicyHost = policyCheck(action).kind === "ok";
      const byExecutor = executorCheck(action as unknown as Action) === null;
      expect({ byPolicyHost, byExecutor }).toEqual({ byPolicyHost: accepted, byExecutor: accepted });
    });
  }
});

describe("the two action validators agree beyond ranges (they run the same checks from the kinds' declarations)", () => {
  it.each([
    [
      "a blank annotate message (the executor refused it, the policy host let it through)",
      { kind: "annotate", message: "   " },
    ],
    ["an unknown field (the executor ignored it)", { kind: "set_pids_max", max: 5, maxx: 6 }],
    ["an inherited name as a field (the policy host took it for a declared one)", { kind: "freeze", toString: 1 }],
    [
      "a cpu list over 256 characters",
      { kind: "set_cpuset", cpus: Array.from({ length: 100 }, (_, i) => i).join(",") },
    ],
    ["a device number over 10 digits", { kind: "set_io_throttle", device: "12345678901:0", readBps: 1 }],
    ["a nested annotation value", { kind: "annotate", message: "m", data: { a: { b: 1 } } }],
  ])("both refuse %s", (_label, action) => {
    const byPolicyHost = policyCheck(action);
    const byExecutor = executorCheck(action as unknown as Action);
    expect(byPolicyHost.kind).toBe("invalid");
    expect(byExecutor).not.toBeNull();
    if (byPolicyHost.kind === "invalid") expect(byExecutor).toBe(byPolicyHost.reason);
  });
});
