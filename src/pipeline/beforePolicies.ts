/**
 * The one place where operators on the event stream go: between the
 * observation of every event (heartbeat, metrics, log line) and the policy
 * call. An operator here thins or reshapes what the policies see (e.g.
 * coalescing repeated pressure events per cgroup) while every event is
 * still counted and logged. Each is one line in the list; none today.
 */
import type { MonoTypeOperatorFunction } from "rxjs";
import type { RuntimeConfig } from "../config/types.js";
import type { WatchdogEvent } from "../events/types.js";

export interface OperatorContext {
  readonly config: RuntimeConfig;
  readonly now: () => number;
}

export function beforePolicies(_context: OperatorContext): MonoTypeOperatorFunction<WatchdogEvent>[] {
  return [];
}
