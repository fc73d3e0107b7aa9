/**
 * What became of one offer of a stall under OOM. A stalled cgroup's tasks
 * sleep until something frees memory or raises the limit, so an offer that
 * changed nothing must never pass in silence: the daemon logs it, counts it
 * (cgwatch_oom_stall_outcomes_total) and the stall is offered again while it
 * lasts. Pure: the policies' evaluations and the executor's outcomes in, one
 * outcome and its reasons out.
 */
import type { OomStallOutcome } from "../metrics/names.js";
import type { ActionOutcome, ActionProposal } from "./types.js";

/** One policy's evaluation, as much of it as this needs. */
export interface StallEvaluation {
  readonly policy: string;
  readonly outcome: string;
  readonly reason: string | null;
  readonly proposals: readonly ActionProposal[];
}

export interface StallDecision {
  readonly proposal: ActionProposal;
  readonly outcome: ActionOutcome;
}

export interface StallOutcome {
  readonly outcome: OomStallOutcome;
  /** Why nothing was applied: "policy: guardrail: reason", one per proposal or policy; empty when applied. */
  readonly reasons: readonly string[];
}

export function stallOutcome(evaluations: readonly StallEvaluation[], all: readonly StallDecision[]): StallOutcome {
  // An annotation records; it changes nothing for the stalled tasks.
  const decisions = all.filter((d) => d.proposal.action.kind !== "annotate");
  if (decisions.some((d) => d.outcome.kind === "applied")) return { outcome: "applied", reasons: [] };
  if (decisions.some((d) => d.outcome.kind === "dry_run")) return { outcome: "dry_run", reasons: [] };
  const reasons = decisions.map((d) => `${d.proposal.policy}: ${describe(d.outcome)}`);
  if (decisions.some((d) => d.outcome.kind === "failed")) return { outcome: "failed", reasons };
  if (decisions.length > 0) return { outcome: "rejected", reasons };
  if (all.length > 0) return { outcome: "no_action", reasons: all.map((d) => `${d.proposal.policy}: only annotated`) };
  if (evaluations.length === 0)
    return { outcome: "no_action", reasons: ["no running policy listens to under_oom for this cgroup"] };
  return {
    outcome: "no_action",
    reasons: evaluations.map(
      (e) =>
        `${e.policy}: ${e.outcome === "ok" ? "proposed no action (see its log lines)" : `${e.outcome}${e.reason === null ? "" : `: ${e.reason}`}`}`,
    ),
  };
}

function describe(o: ActionOutcome): string {
  switch (o.kind) {
    case "rejected":
      return `rejected by ${o.guardrail}: ${o.reason}`;
    case "failed":
      return `failed (${o.errno}): ${o.reason}`;
    case "applied":
    case "dry_run":
      return o.kind;
  }
}
