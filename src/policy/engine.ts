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
 */
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { ActionProposal } from "../actions/types.js";
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import { isEmergency, type EventKind, type WatchdogEvent } from "../events/types.js";
import { compilePolicy } from "./compile.js";
import { isPolicyFile, listPolicyFiles, readPolicySource } from "./load.js";
import { compileMatch, mergeParams, type PolicyMatcher } from "./meta.js";
import { compileError, PolicySandbox, type CallResult } from "./sandbox.js";
import {
  DEFAULT_LIMITS,
  FAILURE_OUTCOMES,
  type EvaluationOutcome,
  type PolicyCompileError,
  type PolicyInfo,
  type PolicyLimits,
  type PolicyMeta,
  type ReloadReport,
  type ReloadResult,
} from "./types.js";
import { validateResult } from "./validate.js";

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
  readonly hooks?: PolicyHooks;
}

export interface PolicyEvaluation {
  readonly policy: string;
  readonly outcome: EvaluationOutcome;
  readonly seconds: number;
  readonly proposals: readonly ActionProposal[];
  /** Why a call failed or was skipped; null when ok. */
  readonly reason: string | null;
}

export interface PolicyEngine {
  /** The proposals of every policy that wants this event. Never throws. */
  evaluate(event: WatchdogEvent, snapshot: CgroupSnapshot): ActionProposal[];
  /** Same, with each policy's outcome (for `cgwatch policy test` and tests). */
  evaluateDetailed(event: WatchdogEvent, snapshot: CgroupSnapshot): PolicyEvaluation[];
  /** Whether any running policy listens to this kind on this cgroup: skip building a snapshot otherwise. */
  wantsEvent(kind: EventKind, cgroup: string): boolean;
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

interface LoadedPolicy {
  readonly meta: PolicyMeta;
  /** meta.cooldownMs, or the config's override. */
  cooldownMs: number;
  readonly file: string;
  readonly source: string;
  /** Replaced when a config reload changes `policies.params`. */
  paramsJson: string;
  params: Readonly<Record<string, unknown>>;
  readonly matches: PolicyMatcher;
  readonly log: Logger;
  sandbox: PolicySandbox | null;
  quarantined: string | null;
  consecutiveFailures: number;
  calls: number;
  failures: number;
}

interface CallOutput {
  readonly r?: unknown;
  readonly s?: unknown;
  readonly l?: unknown;
  readonly d?: unknown;
  readonly e?: unknown;
  readonly big?: unknown;
}

const LOG_LEVELS = new Set(["trace", "debug", "info", "warn", "error"]);
const WATCH_DEBOUNCE_MS = 50;

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function createPolicyEngine(opts: PolicyEngineOptions): Promise<PolicyEngine> {
  const limits: PolicyLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  let cooldownOverrides: Readonly<Record<string, number>> = opts.cooldowns ?? {};
  const hooks = opts.hooks ?? {};
  const logger = opts.logger;

  /** Running policies by name, kept sorted by name so evaluation order is deterministic. */
  let byName = new Map<string, LoadedPolicy>();
  let ordered: LoadedPolicy[] = [];
  /** policy name → cgroup → ctx.state JSON. Outlives any one version of the policy. */
  const states = new Map<string, Map<string, string>>();
  /** policy name → cgroup → event time (`at`) before which the policy is not evaluated for it. */
  const cooldowns = new Map<string, Map<string, number>>();
  /** Reloads and sandbox rebuilds in flight, for `settled()`. */
  const pending = new Set<Promise<unknown>>();
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  const watchers: fs.FSWatcher[] = [];
  const debounces = new Map<string, NodeJS.Timeout>();

  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };

  // Disabled policies are loaded and compiled (so a broken one is still
  // reported) but never evaluated.
  let disabled = new Set(opts.disabled ?? []);
  /** Config params by policy name; replaced by configure() on a config reload. */
  let configParams = opts.params ?? {};
  const reorder = (): void => {
    ordered = [...byName.values()].filter((p) => !disabled.has(p.meta.name)).sort((a, b) => (a.meta.name < b.meta.name ? -1 : 1));
  };

  const hook = (fn: () => void): void => {
    // Hooks are the metrics layer; a bug there must not break evaluation.
    try {
      fn();
    } catch (e) {
      logger.error({ err: e }, "policy engine hook threw");
    }
  };

  const quarantine = (p: LoadedPolicy, reason: string): void => {
    p.quarantined = reason;
    logger.error({ policy: p.meta.name, file: p.file, reason }, "policy quarantined");
    hook(() => hooks.onQuarantine?.(p.meta.name, reason));
  };

  const rebuild = (p: LoadedPolicy): void => {
    p.sandbox = null;
    const job = PolicySandbox.create(p.source, p.file, limits).then(
      (created) => {
        if (created.kind === "error") {
          quarantine(p, `sandbox rebuild failed: ${created.error.text}`);
        } else if (closed || byName.get(p.meta.name) !== p) {
          created.sandbox.dispose();
        } else {
          p.sandbox = created.sandbox;
          p.log.info("policy sandbox rebuilt");
        }
      },
      (e: unknown) => quarantine(p, `sandbox rebuild failed: ${errMessage(e)}`),
    );
    void track(job);
  };

  const makeLoaded = (meta: PolicyMeta, file: string, source: string, sandbox: PolicySandbox): LoadedPolicy => {
    const merged = mergeParams(meta.params, configParams[meta.name]);
    const log = logger.child({ policy: meta.name });
    if (merged.unknownKeys.length > 0) log.warn({ keys: merged.unknownKeys }, "config params not declared in meta.params (typo?)");
    return {
      meta,
      cooldownMs: cooldownOverrides[meta.name] ?? meta.cooldownMs,
      file,
      source,
      params: merged.params,
      paramsJson: JSON.stringify(merged.params),
      matches: compileMatch(meta.match),
      log,
      sandbox,
      quarantined: null,
      consecutiveFailures: 0,
      calls: 0,
      failures: 0,
    };
  };

  /** Load or reload a set of files; `complete` means the set is the whole directory listing, so absent files are removed. */
  const reloadFiles = async (files: readonly string[], complete: boolean, listErrors: readonly PolicyCompileError[]): Promise<ReloadReport> => {
    const results: Array<{ policy: string; file: string; result: ReloadResult }> = [];
    const errors: PolicyCompileError[] = [...listErrors];
    const report = (policy: string, file: string, result: ReloadResult): void => {
      results.push({ policy, file, result });
      if (result.kind === "failed") {
        errors.push(result.error);
        logger.error({ policy, file, error: result.error.text, keptPrevious: result.keptPrevious }, "policy failed to compile");
      } else if (result.kind !== "unchanged") {
        logger.info({ policy, file, result: result.kind }, "policy loaded");
      }
      hook(() => hooks.onReload?.(policy, result));
    };
    const next = new Map(byName);
    const byFile = new Map<string, LoadedPolicy>();
    for (const p of byName.values()) byFile.set(p.file, p);

    for (const file of files) {
      const previous = byFile.get(file);
      const read = fs.existsSync(file) ? readPolicySource(file) : null;
      if (read === null) {
        if (previous !== undefined) {
          next.delete(previous.meta.name);
          previous.sandbox?.dispose();
          report(previous.meta.name, file, { kind: "removed" });
        }
        continue;
      }
      if (read.kind === "error") {
        report(previous?.meta.name ?? path.basename(file), file, { kind: "failed", error: read.error, keptPrevious: previous !== undefined });
        continue;
      }
      if (previous !== undefined && previous.source === read.source.source && previous.quarantined === null && previous.sandbox !== null) {
        report(previous.meta.name, file, { kind: "unchanged" });
        continue;
      }
      const compiled = await compilePolicy(read.source, limits);
      if (compiled.kind === "error") {
        report(previous?.meta.name ?? path.basename(file), file, { kind: "failed", error: compiled.error, keptPrevious: previous !== undefined });
        continue;
      }
      const owner = next.get(compiled.meta.name);
      if (owner !== undefined && owner.file !== file) {
        compiled.sandbox.dispose();
        const error = compileError(file, `policy name "${compiled.meta.name}" is already used by ${owner.file}`, null);
        report(previous?.meta.name ?? path.basename(file), file, { kind: "failed", error, keptPrevious: previous !== undefined });
        continue;
      }
      if (previous !== undefined) {
        next.delete(previous.meta.name);
        previous.sandbox?.dispose();
        // A renamed policy starts with fresh state; the old name's state is dropped.
        if (previous.meta.name !== compiled.meta.name) {
          states.delete(previous.meta.name);
          cooldowns.delete(previous.meta.name);
        }
      }
      next.set(compiled.meta.name, makeLoaded(compiled.meta, file, read.source.source, compiled.sandbox));
      report(compiled.meta.name, file, { kind: previous === undefined ? "loaded" : "updated" });
    }
    if (complete) {
      const listed = new Set(files);
      for (const p of byName.values()) {
        if (!listed.has(p.file) && next.get(p.meta.name) === p) {
          next.delete(p.meta.name);
          p.sandbox?.dispose();
          report(p.meta.name, p.file, { kind: "removed" });
        }
      }
    }
    if (closed) {
      for (const p of next.values()) if (!byName.has(p.meta.name) || byName.get(p.meta.name) !== p) p.sandbox?.dispose();
      return { results, errors };
    }
    byName = next;
    reorder();
    return { results, errors };
  };

  const enqueue = <T>(job: () => Promise<T>): Promise<T> => {
    const run = queue.then(job, job);
    queue = run.catch(() => undefined);
    return track(run);
  };

  const fullReload = (): Promise<ReloadReport> =>
    enqueue(() => {
      const listed = listPolicyFiles(opts.dirs, opts.files ?? []);
      return reloadFiles(listed.files, true, listed.errors);
    });

  const loadReport = await fullReload();

  const snapshotJsonOf = (snapshot: CgroupSnapshot): string => JSON.stringify(snapshot);

  const failureReason = (res: Exclude<CallResult, { kind: "ok" }>): string => {
    switch (res.kind) {
      case "timeout":
        return `ran past its ${limits.deadlineMs} ms deadline`;
      case "oom":
        return `exhausted its ${limits.memoryBytes} B memory cap (${res.message})`;
      case "crash":
        return `sandbox crashed: ${res.message}`;
      case "error": {
        const at = res.stack.split("\n").find((l) => l.includes(":"))?.trim();
        return `${res.name}: ${res.message}${at !== undefined ? ` (${at})` : ""}`;
      }
    }
  };

  const emitLogs = (p: LoadedPolicy, event: WatchdogEvent, logs: unknown, dropped: unknown): void => {
    if (Array.isArray(logs)) {
      for (const entry of logs) {
        if (!Array.isArray(entry)) continue;
        const [level, msg, fieldsJson] = entry as unknown[];
        let policyFields: unknown = null;
        try {
          policyFields = typeof fieldsJson === "string" ? JSON.parse(fieldsJson) : null;
        } catch {
          policyFields = null;
        }
        const lvl = typeof level === "string" && LOG_LEVELS.has(level) ? (level as "trace" | "debug" | "info" | "warn" | "error") : "info";
        p.log[lvl]({ cgroup: event.cgroup, event: event.kind, policyFields }, typeof msg === "string" ? msg : String(msg));
      }
    }
    if (typeof dropped === "number" && dropped > 0) {
      p.log.warn({ cgroup: event.cgroup, event: event.kind, dropped }, `policy log calls over the per-call limit of ${limits.maxLogsPerCall} were dropped`);
    }
  };

  /** Run one policy on one event; the only place a call's result is interpreted. */
  const runOne = (p: LoadedPolicy, event: WatchdogEvent, snapshotJson: string): PolicyEvaluation => {
    const name = p.meta.name;
    const cgroup = event.cgroup;
    const done = (outcome: EvaluationOutcome, seconds: number, reason: string | null, proposals: readonly ActionProposal[] = []): PolicyEvaluation => {
      hook(() => hooks.onEvaluation?.(name, outcome, seconds));
      if (FAILURE_OUTCOMES.has(outcome)) {
        p.failures++;
        p.consecutiveFailures++;
        p.log.warn({ cgroup, event: event.kind, outcome, reason }, "policy call failed");
        if (p.consecutiveFailures >= limits.quarantineAfter && p.quarantined === null) {
          quarantine(p, `${p.consecutiveFailures} consecutive failures, last: ${outcome}: ${reason ?? ""}`);
        }
      } else if (outcome === "ok") {
        p.consecutiveFailures = 0;
      }
      return { policy: name, outcome, seconds, proposals, reason };
    };

    // Cooldowns run on the events' own clock (`at`), as the guardrail
    // cooldown does: a policy whose cooldown equals the guardrail's is never
    // rejected by it. A stall under OOM is never held back by a cooldown.
    const now = event.at;
    const emergency = isEmergency(event);
    const until = cooldowns.get(name)?.get(cgroup);
    if (until !== undefined && !emergency) {
      if (now < until) return done("skipped_cooldown", 0, `cooling down for another ${Math.ceil(until - now)} ms`);
      cooldowns.get(name)?.delete(cgroup);
    }
    const sandbox = p.sandbox;
    if (sandbox === null) return done("unavailable", 0, "sandbox is being rebuilt");

    const stateJson = states.get(name)?.get(cgroup) ?? "{}";
    const input = `{"event":${JSON.stringify(event)},"cgroup":${snapshotJson},"params":${p.paramsJson},"state":${stateJson}}`;
    p.calls++;
    const t0 = performance.now();
    const res = sandbox.call(input);
    const seconds = (performance.now() - t0) / 1000;
    if (sandbox.isBroken) rebuild(p);
    if (res.kind !== "ok") return done(res.kind, seconds, failureReason(res));

    if (Buffer.byteLength(res.output) > limits.maxOutputBytes) {
      return done("invalid_output", seconds, `output is ${Buffer.byteLength(res.output)} B, over the ${limits.maxOutputBytes} B cap`);
    }
    let out: CallOutput;
    try {
      out = JSON.parse(res.output) as CallOutput;
    } catch (e) {
      return done("invalid_output", seconds, `output is not JSON: ${errMessage(e)}`);
    }
    if (out.big !== undefined) return done("invalid_output", seconds, `output is ${typeof out.big === "number" ? out.big : "?"} characters, over the ${limits.maxOutputBytes} B cap`);
    emitLogs(p, event, out.l, out.d);
    if (out.e !== null && out.e !== undefined) {
      const e = out.e as { name?: unknown; message?: unknown; stack?: unknown };
      const classified = sandbox.classify({ name: String(e.name), message: String(e.message), stack: typeof e.stack === "string" ? e.stack : "" });
      if (sandbox.isBroken) rebuild(p);
      if (classified.kind !== "ok") return done(classified.kind, seconds, failureReason(classified));
    }
    const validated = validateResult(out.r, limits.maxActions);
    if (validated.kind === "invalid") return done("invalid_output", seconds, `policy ${name}: ${validated.reason}`);
    const nextState = out.s === null || out.s === undefined ? null : JSON.stringify(out.s);
    if (nextState !== null && Buffer.byteLength(nextState) > limits.maxStateBytes) {
      return done("invalid_output", seconds, `policy ${name}: ctx.state is ${Buffer.byteLength(nextState)} B, over the ${limits.maxStateBytes} B cap`);
    }
    let perPolicy = states.get(name);
    if (nextState === null || nextState === "{}") perPolicy?.delete(cgroup);
    else {
      if (perPolicy === undefined) states.set(name, (perPolicy = new Map<string, string>()));
      perPolicy.set(cgroup, nextState);
    }
    const cause = emergency ? { kind: event.kind, at: event.at, emergency: true } : { kind: event.kind, at: event.at };
    const proposals = validated.actions.map((action): ActionProposal => ({ policy: name, cgroup, action, cause }));
    if (proposals.length > 0 && p.cooldownMs > 0) {
      let perPolicyCd = cooldowns.get(name);
      if (perPolicyCd === undefined) cooldowns.set(name, (perPolicyCd = new Map<string, number>()));
      perPolicyCd.set(cgroup, now + p.cooldownMs);
    }
    return done("ok", seconds, null, proposals);
  };

  const evaluateDetailed = (event: WatchdogEvent, snapshot: CgroupSnapshot): PolicyEvaluation[] => {
    const results: PolicyEvaluation[] = [];
    let snapshotJson: string | null = null;
    for (const p of ordered) {
      if (p.quarantined !== null || !p.meta.on.includes(event.kind) || !p.matches(event.cgroup, snapshot.container ?? null)) continue;
      try {
        snapshotJson ??= snapshotJsonOf(snapshot);
        results.push(runOne(p, event, snapshotJson));
      } catch (e) {
        // Defensive: nothing a policy does should get here, but the pipeline must never see a throw.
        logger.error({ policy: p.meta.name, err: e }, "policy engine internal error");
        results.push({ policy: p.meta.name, outcome: "crash", seconds: 0, proposals: [], reason: `internal: ${errMessage(e)}` });
      }
    }
    if (event.kind === "cgroup_removed") {
      for (const m of states.values()) m.delete(event.cgroup);
      for (const m of cooldowns.values()) m.delete(event.cgroup);
    }
    return results;
  };

  const scheduleFile = (file: string): void => {
    const old = debounces.get(file);
    if (old !== undefined) clearTimeout(old);
    debounces.set(
      file,
      setTimeout(() => {
        debounces.delete(file);
        if (closed) return;
        void enqueue(() => reloadFiles([file], false, [])).catch((e: unknown) => logger.error({ err: e, file }, "policy hot reload failed"));
      }, WATCH_DEBOUNCE_MS),
    );
  };

  if (opts.watch === true) {
    for (const dir of opts.dirs) {
      try {
        const w = fs.watch(dir, (_type, filename) => {
          if (filename !== null && isPolicyFile(filename)) scheduleFile(path.resolve(dir, filename));
        });
        w.on("error", (e) => logger.error({ err: e, dir }, "policy directory watch failed"));
        watchers.push(w);
      } catch (e) {
        logger.error({ err: e, dir }, "cannot watch policy directory; hot reload disabled for it");
      }
    }
  }

  return {
    evaluate: (event, snapshot) => evaluateDetailed(event, snapshot).flatMap((r) => r.proposals),
    evaluateDetailed,
    wantsEvent: (kind, cgroup) => ordered.some((p) => p.quarantined === null && p.meta.on.includes(kind) && p.matches(cgroup)),
    policies: () =>
      ordered.map(
        (p): PolicyInfo => ({
          name: p.meta.name,
          file: p.file,
          on: p.meta.on,
          match: p.meta.match,
          cooldownMs: p.cooldownMs,
          params: p.params,
          quarantined: p.quarantined !== null,
          quarantineReason: p.quarantined,
          consecutiveFailures: p.consecutiveFailures,
          calls: p.calls,
          failures: p.failures,
        }),
      ),
    reload: fullReload,
    configure: (settings) => {
      configParams = settings.params ?? {};
      disabled = new Set(settings.disabled);
      for (const p of byName.values()) {
        const merged = mergeParams(p.meta.params, configParams[p.meta.name]);
        const json = JSON.stringify(merged.params);
        if (json === p.paramsJson) continue;
        p.params = merged.params;
        p.paramsJson = json;
        if (merged.unknownKeys.length > 0) p.log.warn({ keys: merged.unknownKeys }, "config params not declared in meta.params (typo?)");
        p.log.info({ params: merged.params }, "policy params changed");
      }
      reorder();
    },
    setCooldowns(next) {
      cooldownOverrides = next;
      for (const p of byName.values()) p.cooldownMs = next[p.meta.name] ?? p.meta.cooldownMs;
    },
    loadReport,
    settled: async () => {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    close: () => {
      closed = true;
      for (const w of watchers) w.close();
      for (const t of debounces.values()) clearTimeout(t);
      debounces.clear();
      for (const p of byName.values()) p.sandbox?.dispose();
      byName = new Map();
      ordered = [];
    },
  };
}
