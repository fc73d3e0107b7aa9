/**
 * The policy engine's public vocabulary: limits, outcomes, reports. Kept in
 * one place so the daemon, `cgwatch check` and `cgwatch policy test` speak
 * the same words as the metrics (`outcome` is a metric label).
 */
import type { EventKind } from "../events/types.js";
import type { ContainerSelector } from "../identity/selector.js";
import type { SampleCondition } from "./sampleFilter.js";

/** Resource limits of one policy sandbox. Every field has a default (see `DEFAULT_LIMITS`). */
export interface PolicyLimits {
  /** Cap of the policy's own WebAssembly memory, bytes. At least 16 MiB (the QuickJS build's initial memory). */
  readonly memoryBytes: number;
  /** Wall-clock budget of one `onEvent` call, ms (enforced by QuickJS's interrupt handler). */
  readonly deadlineMs: number;
  /** Budget for evaluating the module's top level at load time, ms. */
  readonly compileDeadlineMs: number;
  /** QuickJS stack limit, bytes. */
  readonly stackBytes: number;
  /** Most actions one call may return. */
  readonly maxActions: number;
  /** Largest JSON a call may hand back (actions + state + logs), bytes. */
  readonly maxOutputBytes: number;
  /** Largest `ctx.state` per policy and cgroup, as JSON bytes. */
  readonly maxStateBytes: number;
  /** `ctx.log` calls kept per call; the rest are counted and dropped. */
  readonly maxLogsPerCall: number;
  /** Consecutive failed calls that quarantine a policy. */
  readonly quarantineAfter: number;
}

export const MIN_MEMORY_BYTES = 16 * 1024 * 1024;

export const DEFAULT_LIMITS: PolicyLimits = {
  memoryBytes: 32 * 1024 * 1024,
  deadlineMs: 50,
  compileDeadlineMs: 1000,
  stackBytes: 256 * 1024,
  maxActions: 8,
  maxOutputBytes: 64 * 1024,
  maxStateBytes: 16 * 1024,
  maxLogsPerCall: 10,
  quarantineAfter: 5,
};

/**
 * One `meta.match` entry: a cgroup path glob, or a path glob (default "**")
 * and/or a container selector (src/identity/selector.ts).
 */
export type MatchEntry = string | { readonly path?: string; readonly container?: ContainerSelector };

/** The validated `meta` export of a policy. */
export interface PolicyMeta {
  readonly name: string;
  readonly on: readonly EventKind[];
  readonly match: readonly MatchEntry[];
  /** ms; 0 = none. */
  readonly cooldownMs: number;
  readonly params: Readonly<Record<string, unknown>>;
  readonly description: string | null;
  /** `meta.sampleOnly`: the cgroups a `sample` event concerns (sampleFilter.ts); absent = every cgroup. */
  readonly sampleOnly?: readonly SampleCondition[];
  /** `meta.addedOnly`: the cgroups a `cgroup_added` event concerns, same conditions; absent = every cgroup. */
  readonly addedOnly?: readonly SampleCondition[];
}

/**
 * What one policy call came to. `error`: the policy threw (or hit the stack
 * limit); `timeout`: past its deadline; `oom`: its memory cap; `crash`: the
 * sandbox trapped and was discarded; `invalid_output`: the result failed
 * validation; `skipped_cooldown`: not called, the cgroup is cooling down;
 * `unavailable`: not called, its sandbox is being rebuilt after a crash.
 */
export type EvaluationOutcome =
  "ok" | "error" | "timeout" | "oom" | "crash" | "invalid_output" | "skipped_cooldown" | "unavailable";

export const FAILURE_OUTCOMES: ReadonlySet<EvaluationOutcome> = new Set([
  "error",
  "timeout",
  "oom",
  "crash",
  "invalid_output",
]);

/** A compile (load) error, located in the policy file. */
export interface PolicyCompileError {
  readonly file: string;
  readonly line: number | null;
  readonly column: number | null;
  readonly message: string;
  /** `file:line:col: message`, what a human and an editor want. */
  readonly text: string;
}

export interface PolicyInfo {
  readonly name: string;
  readonly file: string;
  readonly on: readonly EventKind[];
  readonly match: readonly MatchEntry[];
  readonly cooldownMs: number;
  readonly params: Readonly<Record<string, unknown>>;
  readonly quarantined: boolean;
  readonly quarantineReason: string | null;
  readonly consecutiveFailures: number;
  readonly calls: number;
  readonly failures: number;
}

export type ReloadResult =
  | { readonly kind: "loaded" }
  | { readonly kind: "updated" }
  | { readonly kind: "unchanged" }
  | { readonly kind: "removed" }
  | { readonly kind: "failed"; readonly error: PolicyCompileError; readonly keptPrevious: boolean };

export interface ReloadReport {
  /** Policy name (or file, when the name is unknown) → what happened. */
  readonly results: ReadonlyArray<{ readonly policy: string; readonly file: string; readonly result: ReloadResult }>;
  readonly errors: readonly PolicyCompileError[];
}
