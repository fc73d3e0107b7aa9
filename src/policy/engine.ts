/**
 * The policy engine: every loaded policy in its own sandbox, events in,
 * validated action proposals out. `evaluate` is synchronous so the
 * event → action path never waits; loading, reloading and rebuilding a
 * crashed sandbox are asynchronous and happen beside it.
 *
 * Failure isolation is per call: whatever one policy does (throw, loop, bomb
 * its memory, return garbage) costs that call, is counted and logged, and
 * after `quarantineAfter` consecutive failures stops that policy until a
 * reload. `ctx.state` lives here, host-side, keyed by policy *name* and
 * cgroup, so it survives sandbox rebuilds and hot reloads of the same policy.
 *
 * This module only composes: the registry (registry.ts: load, reload, watch,
 * quarantine), the call protocol (call.ts + protocol.ts), the host-side
 * memory (callState.ts) and the sample filters (sampleFilter.ts).
 */
import type { Logger } from "pino";
import type { ActionProposal } from "../actions/types.js";
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import type { EventKind, WatchdogEvent } from "../events/types.js";
import { callPolicy, type CallEnv, type PolicyEvaluation } from "./call.js";
import { createCallState } from "./callState.js";
import type { PrecompiledPolicies } from "./precompiled.js";
import { eventInput } from "./protocol.js";
import { createPolicyRegistry, policyInfo, type LoadedPolicy } from "./registry.js";
import { conditionsFor, factsOfSnapshot, isFilteredKind, sampleConcerns, type SampleFacts } from "./sampleFilter.js";
import {
  DEFAULT_LIMITS,
  type EvaluationOutcome,
  type PolicyInfo,
  type PolicyLimits,
  type ReloadReport,
  type ReloadResult,
} from "./types.js";

export interface PolicyHooks {
  /** Every evaluation (including skips), for `cgwatch_policy_evaluations_total` and the duration histogram. */
  onEvaluation?(policy: string, outcome: EvaluationOutcome, seconds: number): void;
  onQuarantine?(policy: string, reason: string): void;
  onReload?(policy: string, result: ReloadResult): void;
}

export interface PolicyEngineOptions {
  /** Directories whose `*.js` files are policies (not recursive). */
  readonly dirs: readonly string[];
  /** Extra single policy files (`cgwatch policy test`). */
  readonly files?: readonly string[];
  /** Config overrides of `meta.params`, by policy name. */
  readonly params?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly limits?: Partial<PolicyLimits>;
  readonly logger: Logger;
  /**
   * Ignored (kept for callers): cooldowns are measured between events' `at`,
   * the clock the guardrail cooldown uses too, so the two cannot disagree.
   */
  readonly clock?: () => number;
  /** Config overrides of `meta.cooldown` (ms), by policy name (`policies.cooldowns`). */
  readonly cooldowns?: Readonly<Record<string, number>>;
  /** Policy names loaded but never run (config `policies.disabled`). */
  readonly disabled?: readonly string[];
  /** Watch the directories and hot-reload changed files. */
  readonly watch?: boolean;
  /** Sandboxes `cgwatch run`'s preflight compiled from the same files: adopted by the first load instead of compiling again. */
  readonly precompiled?: PrecompiledPolicies;
  readonly hooks?: PolicyHooks;
}

export type { PolicyEvaluation };

export interface PolicyEngine {
  /** The proposals of every policy that wants this event. Never throws. */
  evaluate(event: WatchdogEvent, snapshot: CgroupSnapshot): ActionProposal[];
  /** Same, with each policy's outcome (for `cgwatch policy test` and tests). */
  evaluateDetailed(event: WatchdogEvent, snapshot: CgroupSnapshot): PolicyEvaluation[];
  /**
   * Whether any running policy listens to this kind on this cgroup: skip building a snapshot otherwise.
   * For `sample` and `cgroup_added`, `facts` (what the caller knows of the cgroup without a snapshot)
   * also apply each policy's `meta.sampleOnly` / `meta.addedOnly`; without them every such event of a
   * matching cgroup is wanted.
   */
  wantsEvent(kind: EventKind, cgroup: string, facts?: SampleFacts): boolean;
  policies(): PolicyInfo[];
  /** Rescan the directories: recompile changed files, load new ones, drop removed ones, lift quarantines. */
  reload(): Promise<ReloadReport>;
  /** Applies a reloaded config's `policies.params` and `policies.disabled` to the running policies (and to later loads). */
  configure(settings: { readonly params: PolicyEngineOptions["params"]; readonly disabled: readonly string[] }): void;
  /** Replaces the config's cooldown overrides (`policies.cooldowns`, ms by policy name), for running and later-loaded policies. */
  setCooldowns(cooldowns: Readonly<Record<string, number>>): void;
  /** The report of the initial load. */
  readonly loadReport: ReloadReport;
  /** Resolves when no reload or sandbox rebuild is in flight. */
  settled(): Promise<void>;
  close(): void;
}

/** Whether a policy runs on this event kind for this cgroup (path match, container when known, sampleOnly/addedOnly when facts are known). */
function listens(
  p: LoadedPolicy,
  kind: EventKind,
  cgroup: string,
  container: CgroupSnapshot["container"] | undefined,
  facts: SampleFacts | undefined,
): boolean {
  if (p.quarantined !== null || !p.meta.on.includes(kind)) return false;
  if (!(container === undefined ? p.matches(cgroup) : p.matches(cgroup, container))) return false;
  return facts === undefined || sampleConcerns(conditionsFor(p.meta, kind), facts);
}

export async function createPolicyEngine(opts: PolicyEngineOptions): Promise<PolicyEngine> {
  const limits: PolicyLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const hooks = opts.hooks ?? {};
  const logger = opts.logger;
  const state = createCallState();
  const { registry, loadReport } = await createPolicyRegistry({
    dirs: opts.dirs,
    files: opts.files,
    params: opts.params,
    limits,
    logger,
    cooldowns: opts.cooldowns,
    disabled: opts.disabled,
    watch: opts.watch,
    precompiled: opts.precompiled,
    onQuarantine: hooks.onQuarantine?.bind(hooks),
    onReload: hooks.onReload?.bind(hooks),
    onRenamed: (oldName) => state.forgetPolicy(oldName),
  });
  const env: CallEnv = {
    limits,
    state,
    logger,
    onEvaluation: hooks.onEvaluation?.bind(hooks),
    quarantine: (p, reason) => registry.quarantine(p, reason),
    rebuild: (p) => registry.rebuild(p),
  };

  const evaluateDetailed = (event: WatchdogEvent, snapshot: CgroupSnapshot): PolicyEvaluation[] => {
    const results: PolicyEvaluation[] = [];
    // Serialised once per event, for every policy that runs on it; samples and additions are filtered on what the snapshot shows.
    let input: string | null = null;
    const facts = isFilteredKind(event.kind) ? factsOfSnapshot(snapshot, event) : undefined;
    for (const p of registry.running()) {
      if (!listens(p, event.kind, event.cgroup, snapshot.container ?? null, facts)) continue;
      try {
        input ??= eventInput(event, snapshot);
        results.push(callPolicy(env, p, event, input));
      } catch (e) {
        // Defensive: nothing a policy does should get here, but the pipeline must never see a throw.
        logger.error({ policy: p.meta.name, err: e }, "policy engine internal error");
        results.push({
          policy: p.meta.name,
          outcome: "crash",
          seconds: 0,
          proposals: [],
          reason: `internal: ${e instanceof Error ? e.message : String(e)}`,
        });
      }
    }
    if (event.kind === "cgroup_removed") state.forgetCgroup(event.cgroup);
    return results;
  };

  return {
    evaluate: (event, snapshot) => {
      const proposals: ActionProposal[] = [];
      for (const r of evaluateDetailed(event, snapshot)) proposals.push(...r.proposals);
      return proposals;
    },
    evaluateDetailed,
    wantsEvent: (kind, cgroup, facts) => {
      for (const p of registry.running()) if (listens(p, kind, cgroup, undefined, facts)) return true;
      return false;
    },
    policies: () => registry.running().map(policyInfo),
    reload: () => registry.reload(),
    configure: (settings) => registry.configure(settings),
    setCooldowns: (next) => registry.setCooldowns(next),
    loadReport,
    settled: () => registry.settled(),
    close: () => registry.close(),
  };
}
