/**
 * SIGHUP's config half: apply the settings that can change without a
 * restart, and say which changed keys wait for one.
 */
import type { Logger } from "pino";
import { planReload, type ReloadPlan } from "../config/reload.js";
import type { RuntimeConfig } from "../config/types.js";
import type { PolicyEngine } from "../policy/engine.js";
import type { WatchScope } from "../pipeline/types.js";

export interface Reloadable {
  /** The config the daemon started with. */
  readonly started: RuntimeConfig;
  /** The root logger (its level is reloadable). */
  readonly logger: Logger;
  readonly policies: Pick<PolicyEngine, "configure" | "setCooldowns">;
  readonly scope: Pick<WatchScope, "replace">;
  /** Replaces the executor with one built on the new guardrails. */
  readonly setGuardrails: (guardrails: RuntimeConfig["guardrails"]) => void;
}

export function createConfigApplier(r: Reloadable): (next: RuntimeConfig) => ReloadPlan {
  /** The config last applied (startup, then each reload): what the next reload is compared with. */
  let applied = r.started;
  return (next) => {
    // Reloadable keys compare with the last reload; the others with what the daemon started with,
    // because that is what still runs (a second SIGHUP must name them again).
    const plan: ReloadPlan = { apply: planReload(applied, next).apply, restart: planReload(r.started, next).restart };
    for (const key of plan.apply) {
      switch (key) {
        case "log.level":
          r.logger.level = next.log.level;
          break;
        case "guardrails":
          // guardrails.global.dryRun mirrors the top-level dryRun, so a dryRun change lands here too.
          r.setGuardrails(next.guardrails);
          break;
        case "policies.params":
        case "policies.disabled":
          r.policies.configure({ params: next.policies.params, disabled: next.policies.disabled });
          break;
        case "policies.cooldownsMs":
          r.policies.setCooldowns(next.policies.cooldownsMs);
          break;
        case "watch":
        case "exclude":
          r.scope.replace(next);
          break;
      }
    }
    applied = next;
    return plan;
  };
}
