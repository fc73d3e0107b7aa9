/**
 * The action union: what a policy may ask for. One name per knob across
 * cgroup v1 and v2; each kind is declared once, in its module under
 * `kinds/` (fields, files per version, plan), and the union is derived from
 * the registry (`kinds/index.ts`). Plain JSON data: actions come out of
 * policy sandboxes as JSON and are validated before they get here.
 */
import { BUILTIN_ACTION_KINDS, type Action } from "./kinds/index.js";

export type { Action };

/** A byte count, or "max" for no limit. */
export type BytesOrMax = number | "max";

export type ActionKind = Action["kind"];

/** Every registered kind, in registration order. */
export const ACTION_KINDS: readonly ActionKind[] = BUILTIN_ACTION_KINDS.map((def) => def.kind);

/** A validated action a policy proposed, before guardrails decide. */
export interface ActionProposal {
  readonly policy: string;
  readonly cgroup: string;
  readonly action: Action;
  /**
   * The event that caused it (kind and monotonic read time), for logs and
   * latency metrics; cooldowns are measured between causes' times.
   * `emergency`: the cause was a stall under OOM (events/types isEmergency),
   * which the guardrail cooldown does not hold back.
   */
  readonly cause: { readonly kind: string; readonly at: number; readonly emergency?: boolean };
}

/**
 * What became of a proposal. `before`/`after` are the values of the files
 * the action writes ("file=value; file=value" when it writes several), or a
 * summary for per-process actions (oom_score_adj values, pids signalled).
 * The optional fields only add detail; the four kinds are the contract.
 */
export type ActionOutcome =
  | {
      readonly kind: "applied";
      readonly before: string | null;
      /** What the kernel shows after the write (read back), not what was written. */
      readonly after: string | null;
      /** What was written, when the read-back differs from it (the kernel rounds bytes to pages, normalises cpu lists...). */
      readonly wrote?: string;
      readonly readBackDiffers?: boolean;
      readonly note?: string;
    }
  | {
      readonly kind: "dry_run";
      /** Why nothing was written: dry-run is on, or the cgroup is watched but no watch rule opted it in to actions. */
      readonly reason: DryRunReason;
      readonly before: string | null;
      readonly wouldWrite: string | null;
      readonly note?: string;
    }
  | { readonly kind: "rejected"; readonly guardrail: string; readonly reason: string }
  | {
      readonly kind: "failed";
      readonly errno: string;
      readonly reason: string;
      readonly before?: string | null;
      /** Writes of a multi-write plan that had already succeeded when one failed (e.g. memsw raised, then the limit refused). */
      readonly completed?: readonly string[];
    };

export type ActionOutcomeKind = ActionOutcome["kind"];

export type DryRunReason = "dry_run" | "observe_only";
