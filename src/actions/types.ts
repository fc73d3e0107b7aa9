/**
 * The action union: what a policy may ask for. One name per knob across
 * cgroup v1 and v2; `actions/` maps each to files (and rejects what a
 * version cannot do, e.g. swappiness on v2). Plain JSON data: actions come
 * out of policy sandboxes as JSON and are validated before they get here.
 */

/** A byte count, or "max" for no limit. */
export type BytesOrMax = number | "max";

export type Action =
  /** `-m`: memory.limit_in_bytes (v1, memsw ordered) / memory.max (v2). */
  | { readonly kind: "set_memory_limit"; readonly bytes: BytesOrMax; readonly allowBelowUsage?: boolean }
  /** `--memory-swap` semantics per version: v1 memsw = memory + swap; v2 memory.swap.max = swap only. Here: swap bytes only. */
  | { readonly kind: "set_swap_limit"; readonly bytes: BytesOrMax }
  /** `--memory-reservation`: memory.soft_limit_in_bytes (v1) / memory.low (v2). */
  | { readonly kind: "set_memory_reservation"; readonly bytes: BytesOrMax }
  /** memory.high (v2 only). */
  | { readonly kind: "set_memory_high"; readonly bytes: BytesOrMax; readonly allowBelowUsage?: boolean }
  /** `--memory-swappiness` 0..100 (v1 only; v2 has no per-cgroup swappiness). */
  | { readonly kind: "set_swappiness"; readonly value: number }
  /** `--oom-score-adj` -1000..1000 for every process in the cgroup. */
  | { readonly kind: "set_oom_score_adj"; readonly value: number }
  /** `--oom-kill-disable` (v1 memory.oom_control) / memory.oom.group (v2). */
  | { readonly kind: "set_oom_kill_disable"; readonly disable: boolean }
  | { readonly kind: "set_oom_group"; readonly enable: boolean }
  /** `--cpu-quota`/`--cpu-period`: cpu.cfs_quota_us + cpu.cfs_period_us (v1) / cpu.max (v2). */
  | { readonly kind: "set_cpu_quota"; readonly quotaUs: number | "max"; readonly periodUs?: number }
  /** cpu.cfs_burst_us (v1) / cpu.max.burst (v2). */
  | { readonly kind: "set_cpu_burst"; readonly burstUs: number }
  /** `--cpu-shares` (v1) / cpu.weight (v2, runc's conversion). */
  | { readonly kind: "set_cpu_shares"; readonly shares: number }
  /** `--cpuset-cpus` / `--cpuset-mems`. */
  | { readonly kind: "set_cpuset"; readonly cpus?: string; readonly mems?: string }
  /** `--pids-limit`. */
  | { readonly kind: "set_pids_max"; readonly max: number | "max" }
  /** `--blkio-weight` (v1 blkio.weight / v2 io.weight). */
  | { readonly kind: "set_io_weight"; readonly weight: number }
  /** `--device-read-bps` and friends; device is "major:minor". */
  | {
      readonly kind: "set_io_throttle";
      readonly device: string;
      readonly readBps?: number | "max";
      readonly writeBps?: number | "max";
      readonly readIops?: number | "max";
      readonly writeIops?: number | "max";
    }
  | { readonly kind: "freeze" }
  | { readonly kind: "thaw" }
  | { readonly kind: "kill" }
  /** Records only: a log line and a metric, no write. */
  | { readonly kind: "annotate"; readonly message: string; readonly data?: Readonly<Record<string, string | number | boolean>> };

export type ActionKind = Action["kind"];

export const ACTION_KINDS: readonly ActionKind[] = [
  "set_memory_limit",
  "set_swap_limit",
  "set_memory_reservation",
  "set_memory_high",
  "set_swappiness",
  "set_oom_score_adj",
  "set_oom_kill_disable",
  "set_oom_group",
  "set_cpu_quota",
  "set_cpu_burst",
  "set_cpu_shares",
  "set_cpuset",
  "set_pids_max",
  "set_io_weight",
  "set_io_throttle",
  "freeze",
  "thaw",
  "kill",
  "annotate",
] as const;

/** A validated action a policy proposed, before guardrails decide. */
export interface ActionProposal {
  readonly policy: string;
  readonly cgroup: string;
  readonly action: Action;
  /** The event that caused it (kind and monotonic read time), for logs and latency metrics. */
  readonly cause: { readonly kind: string; readonly at: number };
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
