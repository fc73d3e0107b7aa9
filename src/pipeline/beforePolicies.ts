/**
 * The one place where operators on the event stream go: between the
 * observation of every event (heartbeat, metrics, log line) and the policy
 * call. An operator here thins or reshapes what the policies see (e.g.
 * coalescing repeated pressure events per cgroup) while every event is
 * still counted and logged, and settled (stall report, onEvent) in arrival
 * order; a held event settles with nothing decided, and what an operator
 * passes on later is decided only. Each is one line in the list.
 */
import type { MonoTypeOperatorFunction } from "rxjs";
import type { RuntimeConfig } from "../config/types.js";
import type { WatchdogEvent } from "../events/types.js";
import { coalescePolicyWork } from "../coalesce/policyWork.js";

export interface OperatorContext {
  readonly config: RuntimeConfig;
  readonly now: () => number;
  /** `cgwatch run --record`: every event is to be decided (the trace pairs each with the snapshot policies saw). */
  readonly recording: boolean;
  /** Whether a cgroup is still watched (a held event's cgroup may be gone when it is passed on). */
  readonly isWatched: (cgroup: string) => boolean;
}

export function beforePolicies(context: OperatorContext): MonoTypeOperatorFunction<WatchdogEvent>[] {
  return [
    // memory_high/memory_pressure: one policy call per cgroup and kind at once, then one merged follow-up per second (docs/policies.md).
    coalescePolicyWork(context),
  ];
}
