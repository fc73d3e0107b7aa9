/**
 * Calling one policy on one event, and the only place a call's reply is
 * interpreted: cooldown, the sandbox call (protocol.ts), the policy's log
 * lines, validation of its actions, `ctx.state`, and the accounting that
 * quarantines a policy after `quarantineAfter` consecutive failures.
 *
 * Per call the host sends the event input serialised once per event, and
 * keeps the reply's state text as it comes; no closure is made per call.
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { ActionProposal } from "../actions/types.js";
import { isEmergency, type WatchdogEvent } from "../events/types.js";
import type { CallState } from "./callState.js";
import { readReply, utf8Over, type PolicyReply } from "./protocol.js";
import type { LoadedPolicy } from "./registry.js";
import type { CallResult, PolicySandbox } from "./sandbox.js";
import { FAILURE_OUTCOMES, type EvaluationOutcome, type PolicyLimits } from "./types.js";
import { validateResult } from "./validate.js";

export interface PolicyEvaluation {
  readonly policy: string;
  readonly outcome: EvaluationOutcome;
  readonly seconds: number;
  readonly proposals: readonly ActionProposal[];
  /** Why a call failed or was skipped; null when ok. */
  readonly reason: string | null;
}

/** What a call needs from around it. */
export interface CallEnv {
  readonly limits: PolicyLimits;
  readonly state: CallState;
  readonly logger: Logger;
  readonly onEvaluation: ((policy: string, outcome: EvaluationOutcome, seconds: number) => void) | undefined;
  quarantine(p: LoadedPolicy, reason: string): void;
  rebuild(p: LoadedPolicy): void;
}

type LogLevel = "trace" | "debug" | "info" | "warn" | "error";
const LOG_LEVELS: ReadonlySet<string> = new Set<LogLevel>(["trace", "debug", "info", "warn", "error"]);
const NO_PROPOSALS: readonly ActionProposal[] = Object.freeze([]);

export function failureReason(res: Exclude<CallResult, { kind: "ok" }>, limits: PolicyLimits): string {
  switch (res.kind) {
    case "timeout":
      return `ran past its ${limits.deadlineMs} ms deadline`;
    case "oom":
      return `exhausted its ${limits.memoryBytes} B memory cap (${res.message})`;
    case "crash":
      return `sandbox crashed: ${res.message}`;
    case "error": {
      const at = res.stack
        .split("\n")
        .find((l) => l.includes(":"))
        ?.trim();
      return `${res.name}: ${res.message}${at !== undefined ? ` (${at})` : ""}`;
    }
  }
}

/** The policy's `ctx.log` lines, through its own logger. */
function emitLogs(p: LoadedPolicy, event: WatchdogEvent, reply: PolicyReply, limits: PolicyLimits): void {
  for (const entry of reply.logs) {
    if (!Array.isArray(entry)) continue;
    const [level, msg, fieldsJson] = entry as unknown[];
    let policyFields: unknown = null;
    try {
      policyFields = typeof fieldsJson === "string" ? JSON.parse(fieldsJson) : null;
    } catch {
      policyFields = null;
    }
    const lvl = typeof level === "string" && LOG_LEVELS.has(level) ? (level as LogLevel) : "info";
    p.log[lvl]({ cgroup: event.cgroup, event: event.kind, policyFields }, typeof msg === "string" ? msg : String(msg));
  }
  if (reply.dropped > 0) {
    p.log.warn(
      { cgroup: event.cgroup, event: event.kind, dropped: reply.dropped },
      `policy log calls over the per-call limit of ${limits.maxLogsPerCall} were dropped`,
    );
  }
}

/** Counts the outcome, logs and quarantines on failure, and hands the evaluation back. */
function settle(
  env: CallEnv,
  p: LoadedPolicy,
  event: WatchdogEvent,
  outcome: EvaluationOutcome,
  seconds: number,
  reason: string | null,
  proposals: readonly ActionProposal[] = NO_PROPOSALS,
): PolicyEvaluation {
  const name = p.meta.name;
  if (env.onEvaluation !== undefined) {
    try {
      env.onEvaluation(name, outcome, seconds);
    } catch (e) {
      env.logger.error({ err: e }, "policy engine hook threw");
    }
  }
  if (FAILURE_OUTCOMES.has(outcome)) {
    p.failures++;
    p.consecutiveFailures++;
    p.log.warn({ cgroup: event.cgroup, event: event.kind, outcome, reason }, "policy call failed");
    if (p.consecutiveFailures >= env.limits.quarantineAfter && p.quarantined === null) {
      env.quarantine(p, `${p.consecutiveFailures} consecutive failures, last: ${outcome}: ${reason ?? ""}`);
    }
  } else if (outcome === "ok") {
    p.consecutiveFailures = 0;
  }
  return { policy: name, outcome, seconds, proposals, reason };
}

/** The reply of a call that returned: thrown errors, actions, state, cooldown. */
function interpret(
  env: CallEnv,
  p: LoadedPolicy,
  sandbox: PolicySandbox,
  event: WatchdogEvent,
  stateJson: string,
  output: string,
  seconds: number,
): PolicyEvaluation {
  const { limits } = env;
  const name = p.meta.name;
  const read = readReply(output, limits.maxOutputBytes);
  if (read.kind === "invalid") return settle(env, p, event, "invalid_output", seconds, read.reason);
  const reply = read.reply;
  if (reply.logs.length > 0 || reply.dropped > 0) emitLogs(p, event, reply, limits);
  if (reply.error !== null) {
    const classified = sandbox.classify(reply.error);
    if (sandbox.isBroken) env.rebuild(p);
    if (classified.kind !== "ok")
      return settle(env, p, event, classified.kind, seconds, failureReason(classified, limits));
  }
  const validated = validateResult(reply.result, limits.maxActions);
  if (validated.kind === "invalid")
    return settle(env, p, event, "invalid_output", seconds, `policy ${name}: ${validated.reason}`);
  const next = reply.stateJson;
  const stateBytes = next === null ? null : utf8Over(next, limits.maxStateBytes);
  if (stateBytes !== null) {
    return settle(
      env,
      p,
      event,
      "invalid_output",
      seconds,
      `policy ${name}: ctx.state is ${stateBytes} B, over the ${limits.maxStateBytes} B cap`,
    );
  }
  if (next !== stateJson) env.state.setState(name, event.cgroup, next);
  if (validated.actions.length === 0) return settle(env, p, event, "ok", seconds, null);
  const cause = isEmergency(event)
    ? { kind: event.kind, at: event.at, emergency: true }
    : { kind: event.kind, at: event.at };
  const proposals = validated.actions.map((action): ActionProposal => ({
    policy: name,
    cgroup: event.cgroup,
    action,
    cause,
  }));
  if (p.cooldownMs > 0) env.state.setCooldown(name, event.cgroup, event.at + p.cooldownMs);
  return settle(env, p, event, "ok", seconds, null, proposals);
}

/**
 * Run one policy on one event. `input` is the event and its snapshot
 * serialised once for every policy that runs on them (protocol.ts eventInput).
 */
export function callPolicy(env: CallEnv, p: LoadedPolicy, event: WatchdogEvent, input: string): PolicyEvaluation {
  const name = p.meta.name;
  const cgroup = event.cgroup;
  // Cooldowns run on the events' own clock (`at`), as the guardrail
  // cooldown does: a policy whose cooldown equals the guardrail's is never
  // rejected by it. A stall under OOM is never held back by a cooldown.
  const until = env.state.cooldownUntil(name, cgroup);
  if (until !== undefined && !isEmergency(event)) {
    if (event.at < until)
      return settle(env, p, event, "skipped_cooldown", 0, `cooling down for another ${Math.ceil(until - event.at)} ms`);
    env.state.clearCooldown(name, cgroup);
  }
  const sandbox = p.sandbox;
  if (sandbox === null) return settle(env, p, event, "unavailable", 0, "sandbox is being rebuilt");
  const stateJson = env.state.state(name, cgroup);
  p.calls++;
  const t0 = performance.now();
  const res = sandbox.call(input, stateJson, p.paramsJson);
  const seconds = (performance.now() - t0) / 1000;
  if (sandbox.isBroken) env.rebuild(p);
  if (res.kind !== "ok") return settle(env, p, event, res.kind, seconds, failureReason(res, env.limits));
  return interpret(env, p, sandbox, event, stateJson, res.output, seconds);
}
