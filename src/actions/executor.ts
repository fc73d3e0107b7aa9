/**
 * The action executor: the one path from a policy's proposal to a change on
 * the host. For each proposal: validate, refuse protected cgroups, read the
 * current values, plan the writes for this cgroup version, run the
 * guardrails, then either log what would be written (dry-run) or write
 * through the guarded writer and read back. Every proposal ends in exactly
 * one outcome and exactly one pino line "action decision"; nothing throws
 * out of `execute` (an unexpected exception is a `failed` outcome).
 */
import path from "node:path";
import type { Logger } from "pino";
import type { CgroupLayout, CgroupVersion, Controller } from "../cgroup/layout.js";
import { locateController } from "../cgroup/layout.js";
import { CgroupPathError, normaliseCgroupPath } from "../cgroup/paths.js";
import type { GuardedWriter } from "../cgroup/writer.js";
import { applySteps, beforeOf, dirExists, dirFor, describeWrites, procsDir, readFile, type FileRead } from "./apply.js";
import { guardrailsForPolicy, type GuardrailSettings } from "./guardrailConfig.js";
import {
  answersStall,
  checkCooldown,
  checkEffect,
  checkProtected,
  fullBucket,
  noteCooldown,
  ownProtectedSet,
  takeToken,
  type Rejection,
  type TokenBucket,
} from "./guardrails.js";
import { ACTION_REGISTRY, type ActionRegistry } from "./kinds/index.js";
import type { Plan } from "./plan.js";
import type { ActionOutcome, ActionProposal } from "./types.js";
import { validateAction } from "./validate.js";

/** Monotonic milliseconds (performance.now() in production, a fake in tests). */
export interface Clock {
  now(): number;
}

export interface ActionHooks {
  /** Called once per proposal, after the decision line is logged. Exceptions are logged and swallowed. */
  onOutcome?(proposal: ActionProposal, outcome: ActionOutcome, seconds: number): void;
}

export interface ActionExecutorOptions {
  readonly layout: CgroupLayout;
  readonly writer: GuardedWriter;
  /** "/proc" in production. */
  readonly procRoot: string;
  readonly guardrails: GuardrailSettings;
  readonly logger: Logger;
  readonly clock: Clock;
  /** MemTotal in bytes (see parseMemTotal), for the memory ceiling. */
  readonly hostMemoryBytes: number;
  /** cgwatch's own cgroup paths (every hierarchy, see ownCgroupsFromProcSelf); they and their ancestors are never touched. */
  readonly ownCgroups: readonly string[];
  /**
   * Whether a watch rule opted this (normalised) cgroup in to actions. A
   * proposal for any other cgroup runs every guardrail but the global rate
   * limit and ends as dry_run with reason observe_only. Default: every cgroup.
   */
  readonly mayAct?: (cgroup: string) => boolean;
  readonly hooks?: ActionHooks;
  /** The action kinds it knows (default: the built-in registry; tests add a kind). */
  readonly registry?: ActionRegistry;
  /**
   * How current values and read-backs are read (default: one-shot readFile).
   * The daemon's serves a setting the event's snapshot just read (pipeline/eventReads.ts).
   */
  readonly read?: (path: string) => FileRead;
}

export interface ActionExecutor {
  execute(proposal: ActionProposal, eventContext?: Readonly<Record<string, unknown>>): ActionOutcome;
}

/** Where an action's files are: version and controller, or why no hierarchy here can take it. */
function locate(
  layout: CgroupLayout,
  controller: Controller | "procs" | "none",
): { version: CgroupVersion } | { reason: string } {
  if (controller === "none") return { version: layout.mode === "v2" ? 2 : 1 };
  if (controller === "procs") return { version: layout.mode === "v2" ? 2 : 1 };
  const loc = locateController(layout, controller);
  if (loc !== null) return { version: loc.version };
  // v2 freezing is a core feature of every cgroup (cgroup.freeze), not a controller.
  if (controller === "freezer" && layout.v2Root !== null) return { version: 2 };
  return { reason: `no cgroup hierarchy on this host carries the ${controller} controller` };
}

/** The causing event's time, or `fallback` (now) for a proposal without a usable one. */
function causeTime(proposal: ActionProposal, fallback: number): number {
  const at = (proposal.cause as { at?: unknown } | undefined)?.at;
  return typeof at === "number" && Number.isFinite(at) ? at : fallback;
}

type Decision = { outcome: ActionOutcome; version?: CgroupVersion };

const rejected = (r: Rejection): Decision => ({
  outcome: { kind: "rejected", guardrail: r.guardrail, reason: r.reason },
});

/** Where a valid proposal lands: its normalised cgroup, the guardrails of its policy, the cgroup version of its files. */
interface Target {
  readonly cgroup: string;
  readonly cfg: ReturnType<typeof guardrailsForPolicy>;
  readonly controller: ReturnType<ActionRegistry["scopeOf"]>;
  readonly version: CgroupVersion;
}

/** Validates the proposal and finds its target, or the decision that ends it there (invalid, protected, unsupported). */
function targetOf(
  proposal: ActionProposal,
  opts: ActionExecutorOptions,
  kinds: ActionRegistry,
  own: ReturnType<typeof ownProtectedSet>,
): Target | Decision {
  const { action } = proposal;
  const invalid = validateAction(action, kinds);
  if (invalid !== null) return rejected({ guardrail: "invalid_action", reason: invalid });
  let cgroup: string;
  try {
    cgroup = normaliseCgroupPath(proposal.cgroup);
  } catch (err) {
    if (err instanceof CgroupPathError) return rejected({ guardrail: "invalid_action", reason: err.message });
    throw err;
  }
  const cfg = guardrailsForPolicy(opts.guardrails, proposal.policy);
  const prot = checkProtected(cgroup, cfg.protectedCgroups, own);
  // annotate touches nothing, so it may name any cgroup.
  if (prot !== null && action.kind !== "annotate") return rejected(prot);
  const controller = kinds.scopeOf(action);
  const where = locate(opts.layout, controller);
  if ("reason" in where) return rejected({ guardrail: "unsupported", reason: where.reason });
  return { cgroup, cfg, controller, version: where.version };
}

/** The current values of the files the plan reads, or the failure (the cgroup vanished, a read failed). */
function readCurrent(
  layout: CgroupLayout,
  t: Target,
  reads: ReturnType<ActionRegistry["readsFor"]>,
  read: (path: string) => FileRead,
): Map<string, string | null> | Decision {
  const { cgroup, version } = t;
  const current = new Map<string, string | null>();
  let found = false;
  for (const at of reads) {
    const dir = dirFor(layout, cgroup, at.scope);
    const r = dir === null ? ({ kind: "absent" } as const) : read(path.join(dir, at.file));
    if (r.kind === "error")
      return {
        version,
        outcome: { kind: "failed", errno: r.errno, reason: `cannot read ${at.file} of ${cgroup}: ${r.errno}` },
      };
    found ||= r.kind === "ok";
    current.set(at.file, r.kind === "ok" ? r.text : null);
  }
  // The cgroup must exist where the action's files are: a vanished cgroup is a failure (ENOENT), not a plan.
  // A file read proves its directory; only when none was does it cost a stat.
  return found ? current : (vanished(layout, t, reads) ?? current);
}

/** The failure for a cgroup whose directory is not there (null: it is). */
function vanished(layout: CgroupLayout, t: Target, reads: ReturnType<ActionRegistry["readsFor"]>): Decision | null {
  const { cgroup, controller, version } = t;
  if (controller === "none") return null;
  const dir = controller === "procs" ? procsDir(layout, cgroup) : dirFor(layout, cgroup, reads[0]?.scope ?? controller);
  if (dir !== null && dirExists(dir)) return null;
  return {
    version,
    outcome: {
      kind: "failed",
      errno: "ENOENT",
      reason: `cgroup ${cgroup === "" ? "/" : cgroup} does not exist (${dir ?? controller}): it vanished or was never there`,
    },
  };
}

/** The stateful guardrails (cooldowns, the global rate limit): whether a planned change may go ahead now. */
function createAdmission(
  opts: ActionExecutorOptions,
): (proposal: ActionProposal, t: Target, plan: Plan, observeOnly: boolean, started: number) => Rejection | null {
  // Owned by this closure alone, so updated in place (checkCooldown reads it as a CooldownState).
  const cooldowns = new Map<string, number>();
  let bucket: TokenBucket | null =
    opts.guardrails.global.rateLimit === null ? null : fullBucket(opts.guardrails.global.rateLimit, opts.clock.now());
  return (proposal, t, plan, observeOnly, started) => {
    const kind = proposal.action.kind;
    const valueRejection = checkEffect(plan.effect, t.cfg, opts.hostMemoryBytes);
    if (valueRejection !== null) return valueRejection;
    // Cooldowns are measured between the causing events' times (the clock
    // policy cooldowns use), so equal policy and guardrail cooldowns agree;
    // the answer to a stall under OOM is held back by neither (answersStall).
    const at = causeTime(proposal, started);
    const emergency = answersStall(proposal);
    const cool = emergency ? null : checkCooldown(cooldowns, t.cgroup, kind, at, t.cfg.cooldownMs);
    if (cool !== null) return cool;
    // The rate limit comes last so that proposals another guardrail stops cost no token.
    // Observed-only cgroups take none: the bucket paces writes, and the would-have
    // decisions of a whole host must not starve the cgroups that were opted in.
    const limit = opts.guardrails.global.rateLimit;
    if (limit !== null && bucket !== null && !observeOnly) {
      const taken = takeToken(bucket, limit, started);
      bucket = taken.bucket;
      if (!taken.ok && !emergency) return taken.rejection;
    }
    // Whatever happens next (dry-run, write, refusal) counts as an attempt:
    // a failing action must not be retried in a tight loop either.
    noteCooldown(cooldowns, t.cgroup, kind, at);
    return null;
  };
}

/** What was admitted: logged as a would-write (dry-run, observed only), or written through the guarded writer and read back. */
function carryOut(
  opts: ActionExecutorOptions,
  proposal: ActionProposal,
  t: Target,
  plan: Plan,
  current: Map<string, string | null>,
  observeOnly: boolean,
): Decision {
  const { version } = t;
  if ((t.cfg.dryRun || observeOnly) && proposal.action.kind !== "annotate") {
    const wouldWrite = describeWrites(plan.steps);
    const before = beforeOf(plan.steps, current);
    return {
      version,
      outcome: { kind: "dry_run", reason: t.cfg.dryRun ? "dry_run" : "observe_only", before, wouldWrite },
    };
  }
  // Nothing is described before the write: the text the line needs comes after it (applySteps).
  const r = applySteps(plan.steps, {
    layout: opts.layout,
    writer: opts.writer,
    procRoot: opts.procRoot,
    cgroup: t.cgroup,
    current,
    read: opts.read ?? readFile,
  });
  if (r.kind === "failed") {
    const failed: ActionOutcome = {
      kind: "failed",
      errno: r.errno,
      reason: r.reason,
      before: r.before ?? beforeOf(plan.steps, current),
      completed: r.completed,
    };
    return { version, outcome: failed };
  }
  const applied: ActionOutcome = {
    kind: "applied",
    before: r.before,
    after: r.after,
    ...(r.readBackDiffers && r.wrote !== null ? { wrote: r.wrote, readBackDiffers: true } : {}),
    ...(r.note !== undefined ? { note: r.note } : {}),
  };
  return { version, outcome: applied };
}

/** The one "action decision" line of a proposal: what was proposed, what became of it, why. */
function decisionLine(
  proposal: ActionProposal,
  d: Decision,
  seconds: number,
  eventContext: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> {
  const o = d.outcome;
  const line: Record<string, unknown> = {
    event: (proposal.cause as { kind?: string } | undefined)?.kind ?? null,
    cgroup: proposal.cgroup,
    policy: proposal.policy,
    // (a malformed proposal must still get its line)
    action: (proposal.action as { kind?: unknown } | null)?.kind ?? null,
    params: proposal.action,
    before: "before" in o ? (o.before ?? null) : null,
    after: o.kind === "applied" ? o.after : o.kind === "dry_run" ? o.wouldWrite : null,
    outcome: o.kind,
    seconds,
  };
  if (d.version !== undefined) line["cgroupVersion"] = d.version;
  switch (o.kind) {
    case "applied":
      if (o.readBackDiffers === true) {
        line["wrote"] = o.wrote;
        line["readBackDiffers"] = true;
      }
      if (o.note !== undefined) line["note"] = o.note;
      break;
    case "dry_run":
      line["dryRun"] = true;
      line["reason"] = o.reason;
      break;
    case "rejected":
      line["guardrail"] = o.guardrail;
      line["reason"] = o.reason;
      break;
    case "failed":
      line["errno"] = o.errno;
      line["reason"] = o.reason;
      if (o.completed !== undefined && o.completed.length > 0) line["completed"] = o.completed;
      break;
  }
  if (eventContext !== undefined) line["context"] = eventContext;
  return line;
}

export function createActionExecutor(opts: ActionExecutorOptions): ActionExecutor {
  const { layout, logger, clock } = opts;
  const own = ownProtectedSet(opts.ownCgroups);
  const kinds = opts.registry ?? ACTION_REGISTRY;
  const admit = createAdmission(opts);
  const read = opts.read ?? readFile;

  /** validate → protected? → read → plan → guardrails → write (or dry-run) → read back. */
  function decide(proposal: ActionProposal, started: number): Decision {
    const t = targetOf(proposal, opts, kinds, own);
    if ("outcome" in t) return t;
    const { action } = proposal;
    const current = readCurrent(layout, t, kinds.readsFor(action, t.version), read);
    if (!(current instanceof Map)) return current;
    const planned = kinds.plan(action, t.version, current);
    if (planned.kind === "unsupported")
      return { version: t.version, ...rejected({ guardrail: "unsupported", reason: planned.reason }) };
    const plan: Plan = planned;
    const observeOnly = !(opts.mayAct?.(t.cgroup) ?? true);
    if (action.kind !== "annotate") {
      const refused = admit(proposal, t, plan, observeOnly, started);
      if (refused !== null) return { version: t.version, ...rejected(refused) };
    }
    return carryOut(opts, proposal, t, plan, current, observeOnly);
  }

  function log(
    proposal: ActionProposal,
    d: Decision,
    seconds: number,
    eventContext: Readonly<Record<string, unknown>> | undefined,
  ): void {
    const o = d.outcome;
    const level = o.kind === "failed" ? "error" : o.kind === "rejected" ? "warn" : "info";
    // The line is an object of ~15 fields: not built when its level is off.
    if (logger.isLevelEnabled(level))
      logger[level](decisionLine(proposal, d, seconds, eventContext), "action decision");
  }

  return {
    execute(proposal, eventContext) {
      const started = clock.now();
      let decision: Decision;
      try {
        decision = decide(proposal, started);
      } catch (err) {
        // A bug here must not take the daemon down with it: report it as an outcome.
        decision = {
          outcome: {
            kind: "failed",
            errno: "EINTERNAL",
            reason: `internal error: ${err instanceof Error ? err.message : String(err)}`,
          },
        };
      }
      const seconds = Math.max(0, (clock.now() - started) / 1000);
      try {
        log(proposal, decision, seconds, eventContext);
      } catch {
        /* a broken log stream must not turn a decision into an exception */
      }
      try {
        opts.hooks?.onOutcome?.(proposal, decision.outcome, seconds);
      } catch (err) {
        try {
          logger.error({ err, policy: proposal.policy, cgroup: proposal.cgroup }, "action onOutcome hook threw");
        } catch {
          /* see above */
        }
      }
      return decision.outcome;
    },
  };
}
