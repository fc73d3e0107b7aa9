/**
 * The policy engine as the daemon starts it: its settings from the config
 * and its hooks into the metrics. The engine logs each compile error (and a
 * policy directory it could not list) and each quarantine itself: the
 * daemon counts them, it does not log them again.
 */
import { policyLimits } from "../config/policyLimits.js";
import { started, type Started } from "../lifecycle/steps.js";
import type { Metrics } from "../metrics/metrics.js";
import type { PolicyEvaluationOutcome } from "../metrics/names.js";
import { createPolicyEngine, type PolicyEngine } from "../policy/engine.js";
import type { EvaluationOutcome } from "../policy/types.js";
import type { StartContext } from "./context.js";

export async function startPolicies(c: StartContext, metrics: Metrics): Promise<Started<PolicyEngine>> {
  const { config } = c;
  const policies = await createPolicyEngine({
    dirs: config.policies.dirs,
    params: config.policies.params,
    cooldowns: config.policies.cooldownsMs,
    limits: policyLimits(config),
    logger: c.log.policy,
    clock: c.now,
    watch: c.persistent,
    disabled: config.policies.disabled,
    ...(c.options.precompiledPolicies === undefined ? {} : { precompiled: c.options.precompiledPolicies }),
    hooks: {
      onEvaluation: (p, outcome, seconds) => {
        const m = metricOutcome(outcome);
        if (m !== null) metrics.recordPolicyEvaluation(p, m, seconds);
      },
      onQuarantine: (p) => metrics.recordPolicyQuarantine(p, true),
      onReload: (p, result) => {
        if (result.kind === "loaded" || result.kind === "updated") metrics.recordPolicyQuarantine(p, false);
      },
    },
  });
  noteReload(policies, metrics);
  return started(policies, () => policies.close());
}

/** After a load or reload every policy has its series. (Each compile error, and a directory it could not list, the engine logs itself.) */
export function noteReload(policies: PolicyEngine, metrics: Metrics): void {
  for (const p of policies.policies()) metrics.addPolicy(p.name);
}

/** Policy outcomes as metric label values; skips are not evaluations. */
function metricOutcome(outcome: EvaluationOutcome): PolicyEvaluationOutcome | null {
  switch (outcome) {
    case "ok":
    case "error":
    case "timeout":
    case "invalid_output":
      return outcome;
    case "oom":
      return "memory_limit";
    case "crash":
      return "error";
    case "skipped_cooldown":
    case "unavailable":
      return null;
  }
}
