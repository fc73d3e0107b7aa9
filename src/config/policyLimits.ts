/**
 * The policy sandbox limits a config sets, in the engine's words. One
 * function for the preflight and the daemon: a sandbox compiled by `run`'s
 * preflight is adopted by the engine only under identical limits.
 */
import type { PolicyLimits } from "../policy/types.js";
import type { RuntimeConfig } from "./types.js";

export function policyLimits(config: RuntimeConfig): Partial<PolicyLimits> {
  const p = config.policies;
  return { deadlineMs: p.deadlineMs, memoryBytes: p.memoryLimitBytes, quarantineAfter: p.quarantineAfter };
}
