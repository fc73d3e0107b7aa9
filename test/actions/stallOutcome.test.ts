import { describe, expect, it } from "vitest";
import { stallOutcome, type StallDecision, type StallEvaluation } from "../../src/actions/stallOutcome.js";
import type { Action, ActionOutcome } from "../../src/actions/types.js";

const raise: Action = { kind: "set_memory_limit", bytes: 1 };
const d = (outcome: ActionOutcome, action: Action = raise): StallDecision => ({
  proposal: { policy: "oom-rescue", cgroup: "c", action, cause: { kind: "under_oom", at: 0, emergency: true } },
  outcome,
});
const ev = (outcome: string, reason: string | null = null): StallEvaluation => ({
  policy: "oom-rescue",
  outcome,
  reason,
  proposals: [],
});

describe("stallOutcome: every offer of a stall ends in one explicit outcome", () => {
  it.each<[string, StallEvaluation[], StallDecision[], string, RegExp | null]>([
    [
      "applied wins",
      [ev("ok")],
      [d({ kind: "rejected", guardrail: "rate_limit", reason: "x" }), d({ kind: "applied", before: "1", after: "2" })],
      "applied",
      null,
    ],
    ["dry run", [ev("ok")], [d({ kind: "dry_run", reason: "dry_run", before: "1", wouldWrite: "2" })], "dry_run", null],
    [
      "a guardrail said no",
      [ev("ok")],
      [d({ kind: "rejected", guardrail: "memory_ceiling", reason: "above the ceiling" })],
      "rejected",
      /oom-rescue: rejected by memory_ceiling: above the ceiling/,
    ],
    [
      "the write failed",
      [ev("ok")],
      [d({ kind: "failed", errno: "EBUSY", reason: "busy" })],
      "failed",
      /failed \(EBUSY\)/,
    ],
    ["the policy proposed nothing (at its ceiling)", [ev("ok")], [], "no_action", /proposed no action/],
    ["the policy failed", [ev("timeout", "ran past its 50 ms deadline")], [], "no_action", /timeout: ran past/],
    ["no policy listens", [], [], "no_action", /no running policy listens/],
    [
      "an annotation is no rescue",
      [ev("ok")],
      [d({ kind: "applied", before: null, after: null }, { kind: "annotate", message: "stuck" })],
      "no_action",
      /only annotated/,
    ],
  ])("%s", (_name, evaluations, decisions, outcome, reason) => {
    const r = stallOutcome(evaluations, decisions);
    expect(r.outcome).toBe(outcome);
    if (reason === null) expect(r.reasons).toEqual([]);
    else expect(r.reasons.join("\n")).toMatch(reason);
  });
});
