/**
 * The policy registry: which policies run, and their sandboxes. Loads the
 * policy directories, reloads them (all at once, or one file the directory
 * watch saw change), quarantines a failing policy, rebuilds a crashed
 * sandbox beside the event path, and applies config changes (params,
 * disabled, cooldowns). Calling a policy is the call protocol's job
 * (call.ts); the engine (engine.ts) puts the two together.
 *
 * Each fact is logged here, once: a compile error, a load, a quarantine.
 */
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { compilePolicy } from "./compile.js";
import { isPolicyFile, listPolicyFiles, readPolicySource } from "./load.js";
import { compileMatch, mergeParams, type PolicyMatcher } from "./meta.js";
import type { PrecompiledPolicies } from "./precompiled.js";
import { compileError, PolicySandbox } from "./sandbox.js";
import type { PolicyCompileError, PolicyInfo, PolicyLimits, PolicyMeta, ReloadReport, ReloadResult } from "./types.js";

/** One running policy: its meta, its sandbox and its health. Mutable by the registry and the call protocol only. */
export interface LoadedPolicy {
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

export interface RegistryOptions {
  readonly dirs: readonly string[];
  readonly files?: readonly string[] | undefined;
  readonly params?: Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined;
  readonly limits: PolicyLimits;
  readonly logger: Logger;
  readonly cooldowns?: Readonly<Record<string, number>> | undefined;
  readonly disabled?: readonly string[] | undefined;
  readonly watch?: boolean | undefined;
  /** Sandboxes `run`'s preflight compiled: the first load adopts them instead of compiling again, then releases the rest. */
  readonly precompiled?: PrecompiledPolicies | undefined;
  /** Metrics hooks; a throw there is logged and ignored. */
  readonly onQuarantine?: ((policy: string, reason: string) => void) | undefined;
  readonly onReload?: ((policy: string, result: ReloadResult) => void) | undefined;
  /** A policy changed its name: what the host kept under the old one is dropped. */
  readonly onRenamed: (oldName: string) => void;
}

export interface PolicyRegistry {
  /** Running policies (loaded, not disabled), sorted by name so evaluation order is deterministic. */
  running(): readonly LoadedPolicy[];
  /** Rescan the directories: recompile changed files, load new ones, drop removed ones, lift quarantines. */
  reload(): Promise<ReloadReport>;
  quarantine(p: LoadedPolicy, reason: string): void;
  /** Replace a broken sandbox, asynchronously; the policy is `unavailable` meanwhile. */
  rebuild(p: LoadedPolicy): void;
  configure(settings: { readonly params: RegistryOptions["params"]; readonly disabled: readonly string[] }): void;
  setCooldowns(cooldowns: Readonly<Record<string, number>>): void;
  settled(): Promise<void>;
  close(): void;
}

const WATCH_DEBOUNCE_MS = 50;
const CONFIG_TYPO = "config params not declared in meta.params (typo?)";

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function policyInfo(p: LoadedPolicy): PolicyInfo {
  return {
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
  };
}

/** Run a metrics hook; a bug there must not break loading or evaluation. */
export function safeHook(logger: Logger, fn: (() => void) | undefined): void {
  if (fn === undefined) return;
  try {
    fn();
  } catch (e) {
    logger.error({ err: e }, "policy engine hook threw");
  }
}

/** Mutable registry state shared by the helpers below. */
interface Registry {
  readonly opts: RegistryOptions;
  byName: Map<string, LoadedPolicy>;
  ordered: LoadedPolicy[];
  disabled: Set<string>;
  configParams: NonNullable<RegistryOptions["params"]>;
  cooldownOverrides: Readonly<Record<string, number>>;
  /** Until the first load is done: the preflight's sandboxes (a reload always compiles). */
  precompiled: PrecompiledPolicies | null;
  closed: boolean;
}

function reorder(r: Registry): void {
  r.ordered = [...r.byName.values()]
    .filter((p) => !r.disabled.has(p.meta.name))
    .sort((a, b) => (a.meta.name < b.meta.name ? -1 : 1));
}

function makeLoaded(r: Registry, meta: PolicyMeta, file: string, source: string, sandbox: PolicySandbox): LoadedPolicy {
  const merged = mergeParams(meta.params, r.configParams[meta.name]);
  const log = r.opts.logger.child({ policy: meta.name });
  if (merged.unknownKeys.length > 0) log.warn({ keys: merged.unknownKeys }, CONFIG_TYPO);
  return {
    meta,
    cooldownMs: r.cooldownOverrides[meta.name] ?? meta.cooldownMs,
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
}

/** Collects one reload's results, logging each (the one log line of a compile error or a load). */
class ReloadLog {
  readonly results: Array<{ policy: string; file: string; result: ReloadResult }> = [];
  readonly errors: PolicyCompileError[] = [];

  constructor(private readonly r: Registry) {}

  listError(e: PolicyCompileError): void {
    this.errors.push(e);
    this.r.opts.logger.error({ file: e.file, error: e.text }, "policy directory cannot be listed");
  }

  report(policy: string, file: string, result: ReloadResult): void {
    this.results.push({ policy, file, result });
    const logger = this.r.opts.logger;
    if (result.kind === "failed") {
      const e = result.error;
      this.errors.push(e);
      logger.error(
        { policy, file, line: e.line, column: e.column, error: e.text, keptPrevious: result.keptPrevious },
        "policy failed to compile",
      );
    } else if (result.kind !== "unchanged") {
      logger.info({ policy, file, result: result.kind }, "policy loaded");
    }
  }

  /** The reload hooks run once the new set is in place, so a hook sees (and may call) the policies it reports. */
  notify(): void {
    const onReload = this.r.opts.onReload;
    if (onReload === undefined) return;
    for (const { policy, result } of this.results) safeHook(this.r.opts.logger, () => onReload(policy, result));
  }

  failed(previous: LoadedPolicy | undefined, file: string, error: PolicyCompileError): void {
    this.report(previous?.meta.name ?? path.basename(file), file, {
      kind: "failed",
      error,
      keptPrevious: previous !== undefined,
    });
  }
}

/** (Re)load one listed file into `next`. */
async function loadFile(
  r: Registry,
  file: string,
  previous: LoadedPolicy | undefined,
  next: Map<string, LoadedPolicy>,
  log: ReloadLog,
): Promise<void> {
  const read = fs.existsSync(file) ? readPolicySource(file) : null;
  if (read === null) {
    if (previous !== undefined) {
      next.delete(previous.meta.name);
      previous.sandbox?.dispose();
      log.report(previous.meta.name, file, { kind: "removed" });
    }
    return;
  }
  if (read.kind === "error") return log.failed(previous, file, read.error);
  if (
    previous !== undefined &&
    previous.source === read.source.source &&
    previous.quarantined === null &&
    previous.sandbox !== null
  ) {
    return log.report(previous.meta.name, file, { kind: "unchanged" });
  }
  const compiled =
    r.precompiled?.claim(read.source, r.opts.limits) ?? (await compilePolicy(read.source, r.opts.limits));
  if (compiled.kind === "error") return log.failed(previous, file, compiled.error);
  const owner = next.get(compiled.meta.name);
  if (owner !== undefined && owner.file !== file) {
    compiled.sandbox.dispose();
    return log.failed(
      previous,
      file,
      compileError(file, `policy name "${compiled.meta.name}" is already used by ${owner.file}`, null),
    );
  }
  if (previous !== undefined) {
    next.delete(previous.meta.name);
    previous.sandbox?.dispose();
    // A renamed policy starts with fresh state; the old name's state is dropped.
    if (previous.meta.name !== compiled.meta.name) r.opts.onRenamed(previous.meta.name);
  }
  next.set(compiled.meta.name, makeLoaded(r, compiled.meta, file, read.source.source, compiled.sandbox));
  log.report(compiled.meta.name, file, { kind: previous === undefined ? "loaded" : "updated" });
}

/** Load or reload a set of files; `complete` means the set is the whole directory listing, so absent files are removed. */
async function reloadFiles(
  r: Registry,
  files: readonly string[],
  complete: boolean,
  listErrors: readonly PolicyCompileError[],
): Promise<ReloadReport> {
  const log = new ReloadLog(r);
  for (const e of listErrors) log.listError(e);
  const next = new Map(r.byName);
  const byFile = new Map<string, LoadedPolicy>();
  for (const p of r.byName.values()) byFile.set(p.file, p);
  for (const file of files) await loadFile(r, file, byFile.get(file), next, log);
  if (complete) {
    const listed = new Set(files);
    for (const p of r.byName.values()) {
      if (!listed.has(p.file) && next.get(p.meta.name) === p) {
        next.delete(p.meta.name);
        p.sandbox?.dispose();
        log.report(p.meta.name, p.file, { kind: "removed" });
      }
    }
  }
  if (r.closed) {
    for (const p of next.values()) if (r.byName.get(p.meta.name) !== p) p.sandbox?.dispose();
  } else {
    r.byName = next;
    reorder(r);
  }
  log.notify();
  return { results: log.results, errors: log.errors };
}

/** Watch the policy directories; a changed file is reloaded alone, debounced. */
function watchDirs(r: Registry, reloadOne: (file: string) => void): () => void {
  const watchers: fs.FSWatcher[] = [];
  const debounces = new Map<string, NodeJS.Timeout>();
  const schedule = (file: string): void => {
    const old = debounces.get(file);
    if (old !== undefined) clearTimeout(old);
    const t = setTimeout(() => {
      debounces.delete(file);
      if (!r.closed) reloadOne(file);
    }, WATCH_DEBOUNCE_MS);
    debounces.set(file, t);
  };
  for (const dir of r.opts.dirs) {
    try {
      const w = fs.watch(dir, (_type, filename) => {
        if (filename !== null && isPolicyFile(filename)) schedule(path.resolve(dir, filename));
      });
      w.on("error", (e) => r.opts.logger.error({ err: e, dir }, "policy directory watch failed"));
      watchers.push(w);
    } catch (e) {
      r.opts.logger.error({ err: e, dir }, "cannot watch policy directory; hot reload disabled for it");
    }
  }
  return () => {
    for (const w of watchers) w.close();
    for (const t of debounces.values()) clearTimeout(t);
    debounces.clear();
  };
}

/** Apply a reloaded config's params and disabled list. */
function configure(r: Registry, settings: Parameters<PolicyRegistry["configure"]>[0]): void {
  r.configParams = settings.params ?? {};
  r.disabled = new Set(settings.disabled);
  for (const p of r.byName.values()) {
    const merged = mergeParams(p.meta.params, r.configParams[p.meta.name]);
    const json = JSON.stringify(merged.params);
    if (json === p.paramsJson) continue;
    p.params = merged.params;
    p.paramsJson = json;
    if (merged.unknownKeys.length > 0) p.log.warn({ keys: merged.unknownKeys }, CONFIG_TYPO);
    p.log.info({ params: merged.params }, "policy params changed");
  }
  reorder(r);
}

/** Loads every policy (the first full reload) before it resolves. */
export async function createPolicyRegistry(
  opts: RegistryOptions,
): Promise<{ registry: PolicyRegistry; loadReport: ReloadReport }> {
  const r: Registry = {
    opts,
    byName: new Map(),
    ordered: [],
    // Disabled policies are loaded and compiled (so a broken one is still reported) but never run.
    disabled: new Set(opts.disabled ?? []),
    configParams: opts.params ?? {},
    cooldownOverrides: opts.cooldowns ?? {},
    precompiled: opts.precompiled ?? null,
    closed: false,
  };
  const logger = opts.logger;
  /** Reloads and sandbox rebuilds in flight, for `settled()`. */
  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };
  // Reloads run one at a time, in order.
  let queue: Promise<unknown> = Promise.resolve();
  const enqueue = <T>(job: () => Promise<T>): Promise<T> => {
    const run = queue.then(job, job);
    queue = run.catch(() => undefined);
    return track(run);
  };
  const fullReload = (): Promise<ReloadReport> =>
    enqueue(() => {
      const listed = listPolicyFiles(opts.dirs, opts.files ?? []);
      return reloadFiles(r, listed.files, true, listed.errors);
    });

  const quarantine = (p: LoadedPolicy, reason: string): void => {
    p.quarantined = reason;
    logger.error({ policy: p.meta.name, file: p.file, reason }, "policy quarantined");
    const onQuarantine = opts.onQuarantine;
    safeHook(logger, onQuarantine === undefined ? undefined : () => onQuarantine(p.meta.name, reason));
  };
  const rebuild = (p: LoadedPolicy): void => {
    p.sandbox = null;
    const job = PolicySandbox.create(p.source, p.file, opts.limits).then(
      (created) => {
        if (created.kind === "error") quarantine(p, `sandbox rebuild failed: ${created.error.text}`);
        else if (r.closed || r.byName.get(p.meta.name) !== p) created.sandbox.dispose();
        else {
          p.sandbox = created.sandbox;
          p.log.info("policy sandbox rebuilt");
        }
      },
      (e: unknown) => quarantine(p, `sandbox rebuild failed: ${errMessage(e)}`),
    );
    void track(job);
  };

  let loadReport: ReloadReport;
  try {
    loadReport = await fullReload();
  } finally {
    // Whatever the first load did not adopt (a file changed or vanished since the preflight) is disposed now.
    r.precompiled?.release();
    r.precompiled = null;
  }
  const reloadOne = (file: string): void =>
    void enqueue(() => reloadFiles(r, [file], false, [])).catch((e: unknown) =>
      logger.error({ err: e, file }, "policy hot reload failed"),
    );
  const unwatch = opts.watch === true ? watchDirs(r, reloadOne) : () => undefined;

  const registry: PolicyRegistry = {
    running: () => r.ordered,
    reload: fullReload,
    quarantine,
    rebuild,
    configure: (settings) => configure(r, settings),
    setCooldowns(next) {
      r.cooldownOverrides = next;
      for (const p of r.byName.values()) p.cooldownMs = next[p.meta.name] ?? p.meta.cooldownMs;
    },
    settled: async () => {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    close: () => {
      r.closed = true;
      unwatch();
      for (const p of r.byName.values()) p.sandbox?.dispose();
      r.byName = new Map();
      r.ordered = [];
    },
  };
  return { registry, loadReport };
}
