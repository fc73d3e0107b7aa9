/**
 * Which events' policy work the daemon coalesces, and how. Under sustained
 * throttling at memory.high the kernel bumps memory.events `high` many times
 * a second; each memory_high used to cost a snapshot read and a policy call
 * (tens of ms under emulation), and a PSI wake arriving meanwhile waited for
 * them (docs/policies.md, "Coalesced policy work"). Every event is still
 * counted and logged when it arrives; only the policy call is coalesced: per
 * cgroup and kind, the first event is evaluated at once, the ones within the
 * next POLICY_COALESCE_MS fold into one follow-up evaluated when that window
 * ends. Emergencies, OOM kills, limits hit and lifecycle events are never held.
 */
import { filter, identity, type MonoTypeOperatorFunction } from "rxjs";
import type { WatchdogEvent } from "../events/types.js";
import type { CoalesceRules } from "./coalescer.js";
import { coalescePerKey } from "./operator.js";

/** One policy call per cgroup and kind per second at most (a PSI trigger fires at most once per window anyway). */
export const POLICY_COALESCE_MS = 1000;

/** The kinds whose policy work coalesces: signals that repeat while a condition lasts. */
export const COALESCED_KINDS: ReadonlySet<WatchdogEvent["kind"]> = new Set(["memory_high", "memory_pressure"]);

export const policyWorkRules: CoalesceRules<WatchdogEvent> = {
  key: (e) => (COALESCED_KINDS.has(e.kind) ? `${e.kind}\u0000${e.cgroup}` : null),
  merge: (pending, later) => {
    // A counter's follow-up spans every change it stands for: the first `before`, the last `after`.
    if (pending.kind === "memory_high" && later.kind === "memory_high") {
      return { ...later, counter: { before: pending.counter.before, after: later.counter.after } };
    }
    // Pressure: the latest reading is the one to decide on.
    return later;
  },
};

export interface PolicyWorkContext {
  /** `cgwatch run --record`: every event is decided (the trace pairs each with the snapshot policies saw). */
  readonly recording: boolean;
  /** Whether a cgroup is still watched: a follow-up for one removed meanwhile has nothing left to act on. */
  readonly isWatched: (cgroup: string) => boolean;
}

/**
 * The daemon's operator before the policies (src/pipeline/beforePolicies.ts).
 * A follow-up is delivered from setImmediate: after the loop has polled the
 * fds that became ready meanwhile, so a PSI wake is not kept behind it.
 */
export function coalescePolicyWork(context: PolicyWorkContext): MonoTypeOperatorFunction<WatchdogEvent> {
  if (context.recording) return identity;
  return (events$) =>
    events$.pipe(
      coalescePerKey(policyWorkRules, POLICY_COALESCE_MS, { followUp: (deliver) => setImmediate(deliver) }),
      filter((e) => !COALESCED_KINDS.has(e.kind) || context.isWatched(e.cgroup)),
    );
}
