/**
 * The composition root of the watchdog: kernel → watch loop → policies →
 * guarded actions, with metrics and a log line at every stage. Everything
 * it needs arrives as arguments (config, layout, roots, native addon), so
 * the same daemon runs against /sys/fs/cgroup, a fake tree in a test, or the
 * VM's v2 kernel.
 *
 * Startup is ordered (protect self → metrics → policies → executor → watch),
 * shutdown is the reverse and always runs every step.
 */
import fs from "node:fs";
import { Subject, Subscription } from "rxjs";
import type { Logger } from "pino";
import type { ActionOutcome, ActionProposal } from "./actions/types.js";
import { createActionExecutor, type ActionExecutor } from "./actions/executor.js";
import { parseMemTotal, protectSelf } from "./actions/selfProtection.js";
import { locateController, type CgroupLayout } from "./cgroup/layout.js";
import { compileCgroupGlob } from "./cgroup/glob.js";
import type { OomVictim } from "./events/types.js";
import { createFileReader, type FileReader } from "./cgroup/read.js";
import { createGuardedWriter } from "./cgroup/writer.js";
import { planReload, type ReloadPlan } from "./config/reload.js";
import { actScope } from "./config/actScope.js";
import type { RuntimeConfig } from "./config/types.js";
import type { CgroupSnapshot } from "./cgroup/snapshot.js";
import { isEmergency, type V1PressureLevel, type WatchdogEvent } from "./events/types.js";
import { stallOutcome, type StallDecision, type StallEvaluation } from "./actions/stallOutcome.js";
import { componentLogger } from "./logging/logger.js";
import { createProblemLog } from "./logging/problems.js";
import { createMetrics, type Metrics } from "./metrics/metrics.js";
import { startMetricsServer, type MetricsServer } from "./metrics/server.js";
import type { NativeLoad } from "./native/index.js";
import { createPolicyEngine, type PolicyEngine } from "./policy/engine.js";
import type { EvaluationOutcome, ReloadReport } from "./policy/types.js";
import type { PolicyEvaluationOutcome } from "./metrics/names.js";
import { createNativeNotifiers } from "./watch/nativeNotifiers.js";
import { readSnapshot } from "./watch/snapshot.js";
import { memoryVersionOnDisk, type NotifierMode } from "./watch/notifiers.js";
import type { DiscoveryFilter } from "./sources/discovery.js";
import { createWatcher, type Watcher } from "./watch/watcher.js";
import { publishCgroupState } from "./watch/publish.js";
import { createIdentityResolver, type IdentityResolver } from "./identity/resolver.js";
import { withContainerIdentity } from "./identity/log.js";
import { containerSnapshot, identityLabels } from "./identity/labels.js";
import { compileWatchRules, type WatchRules } from "./identity/watchRules.js";
import { compileSelector } from "./identity/selector.js";
import type { ContainerIdentity } from "./identity/types.js";
import { createOomForensics, type OomForensics } from "./oom/forensics.js";
import { openKmsg } from "./oom/kmsgReader.js";
import { createRetention } from "./oom/retention.js";
import { createOomReporter } from "./oom/reporter.js";
import { coalescePerKey } from "./coalesce/operator.js";
import { COALESCED_KINDS, POLICY_COALESCE_MS, policyWorkRules } from "./coalesce/policyWork.js";
import { killedSummary, oomKillMessage } from "./oom/report.js";

export interface DaemonOptions {
  readonly config: RuntimeConfig;
  readonly logger: Logger;
  readonly layout: CgroupLayout;
  /** "/proc" in production. */
  readonly procRoot: string;
  readonly native: NativeLoad;
  /** MemTotal, for the memory ceiling guardrail. */
  readonly hostMemoryBytes: number;
  /** cgwatch's own cgroup paths: never watched, never acted on. */
  readonly ownCgroups: readonly string[];
  /** Start the /metrics HTTP server (tests of the loop alone pass false). */
  readonly serveMetrics?: boolean;
  /** Keep the event loop alive on watches (false in tests). */
  readonly persistent?: boolean;
  /** Set cgwatch's own oom_score_adj (off in tests, which must not change the test runner). */
  readonly protectSelf?: boolean;
  readonly now?: () => number;
  /** Observe every event after it was handled (tests, demo). */
  readonly onEvent?: (event: WatchdogEvent) => void;
  readonly onAction?: (proposal: ActionProposal, outcome: ActionOutcome) => void;
  /** `cgwatch run --record`: every event with the snapshot policies see (read for every event while recording). */
  readonly record?: (event: WatchdogEvent, snapshot: CgroupSnapshot | null) => void;
}

export interface CgroupStatus {
  readonly cgroup: string;
  /** A watch rule opted it in to actions; otherwise it is observed only. */
  readonly act: boolean;
  readonly notifier: NotifierMode | null;
  readonly memoryVersion: 1 | 2 | null;
  readonly cpuQuota: boolean;
}

export interface Daemon {
  /** Resolves with the number of watched cgroups after the first full scan. */
  readonly ready: Promise<number>;
  readonly metrics: Metrics;
  readonly metricsServer: MetricsServer | null;
  readonly policies: PolicyEngine;
  status(): CgroupStatus[];
  /** Reloads policy files (SIGHUP); counters and policy state survive. */
  reloadPolicies(): Promise<ReloadReport>;
  /** Applies the settings that can change without a restart; says which changed keys were applied and which wait for one. */
  applyConfig(next: RuntimeConfig): ReloadPlan;
  stop(): Promise<void>;
}

/** A coalesced event's policy work runs through policyWork: nothing decided in handle() itself. */
const NOTHING_DECIDED: Decided = { evaluations: [], decisions: [] };

interface Decided {
  readonly evaluations: readonly StallEvaluation[];
  readonly decisions: readonly StallDecision[];
}

/** v1 pressure levels for a cgroup: the last matching watch rule that sets them, else the global list. */
function pressureLevels(config: RuntimeConfig, identityOf: (cgroup: string) => ContainerIdentity | null): (cgroup: string) => readonly V1PressureLevel[] {
  const rules = config.watch.flatMap((r) => {
    if (r.v1PressureLevels === null) return [];
    const path = compileCgroupGlob(r.pattern);
    const container = r.container === undefined ? null : compileSelector(r.container);
    return [{ match: (c: string) => path(c) && (container === null || container(identityOf(c))), levels: r.v1PressureLevels }];
  });
  return (cgroup) => {
    let levels = config.v1PressureLevels;
    for (const r of rules) if (r.match(cgroup)) levels = r.levels;
    return levels;
  };
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, layout, logger } = options;
  const now = options.now ?? (() => performance.now());
  const persistent = options.persistent ?? true;
  // Who each cgroup is; every log line about a cgroup names its container.
  const identities: IdentityResolver = createIdentityResolver({
    roots: config.identity.roots,
    persistent,
    onResolved: (cgroup, id) => lateIdentity(cgroup, id),
    onUnreadable: (cgroup, file, reason) => log.watch.warn({ cgroup, file }, `container metadata unreadable (${reason}): path-only identity`),
  });
  const named = (l: Logger): Logger => withContainerIdentity(l, (c) => identities.get(c));
  const log = {
    lifecycle: named(componentLogger(logger, "lifecycle")),
    watch: named(componentLogger(logger, "watch")),
    policy: named(componentLogger(logger, "policy")),
    actions: named(componentLogger(logger, "actions")),
    metrics: componentLogger(logger, "metrics"),
  };
  let lateIdentity: (cgroup: string, id: NonNullable<ReturnType<IdentityResolver["get"]>>) => void = () => undefined;
  const stops: { name: string; run: () => void | Promise<void> }[] = [];
  const runStops = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s.run();
      } catch (err) {
        log.lifecycle.error({ err, step: s.name }, "shutdown step failed");
      }
    }
  };

  stops.push({ name: "identity", run: () => identities.close() });
  try {
    // File problems (malformed, wrong type, replaced, refused write): logged
    // once when they start and once when they clear, counted once metrics exist.
    let countProblem: ((op: "read" | "write", file: string, reason: string) => void) | null = null;
    const problems = createProblemLog({ logger: log.watch, count: (op, file, reason) => countProblem?.(op, file, reason) });

    // 1. Self-protection: the watchdog must survive the pressure it exists for.
    const writer = createGuardedWriter(layout, options.procRoot, {
      onUnsafe: (p, reason, message) => problems.report({ op: "write", path: p, reason, message }),
      onWritten: (p) => problems.clear("write", p),
    });
    if (options.protectSelf ?? true) {
      protectSelf({ procRoot: options.procRoot, value: config.selfProtection.oomScoreAdj, writer, logger: log.lifecycle });
    }

    // 2. Metrics.
    const metrics = createMetrics();
    countProblem = (op, file, reason) => metrics.recordFileProblem(op, file, reason);
    let metricsServer: MetricsServer | null = null;
    if (options.serveMetrics ?? true) {
      const listen = config.metrics.listen;
      switch (listen.kind) {
        case "tcp":
          metricsServer = await startMetricsServer({ metrics, host: listen.host, port: listen.port, heartbeatMaxAgeMs: Math.max(30_000, config.safetyNetIntervalMs * 3) });
          break;
        case "systemd":
          metricsServer = await startMetricsServer({ metrics, fd: listen.fd, heartbeatMaxAgeMs: Math.max(30_000, config.safetyNetIntervalMs * 3) });
          break;
      }
      const server = metricsServer;
      log.metrics.info({ url: server.url }, "metrics listening");
      stops.push({ name: "metrics server", run: () => server.close() });
    }
    metrics.setNotifierFallback("eventfd", options.native.kind !== "loaded" && layout.v1.has("memory"));
    metrics.setNotifierFallback("psi", options.native.kind !== "loaded" && layout.v2Controllers.has("memory"));
    if (options.native.kind !== "loaded") {
      log.lifecycle.warn({ reason: options.native.reason }, "native addon unavailable: v1 OOM and PSI are polled instead of notified");
    }

    // 3. Policies.
    const policies = await createPolicyEngine({
      dirs: config.policies.dirs,
      params: config.policies.params,
      cooldowns: config.policies.cooldownsMs,
      limits: { deadlineMs: config.policies.deadlineMs, memoryBytes: config.policies.memoryLimitBytes, quarantineAfter: config.policies.quarantineAfter },
      logger: log.policy,
      clock: now,
      watch: options.persistent ?? true,
      disabled: config.policies.disabled,
      hooks: {
        onEvaluation: (p, outcome, seconds) => {
          const m = metricOutcome(outcome);
          if (m !== null) metrics.recordPolicyEvaluation(p, m, seconds);
        },
        onQuarantine: (p, reason) => {
          metrics.recordPolicyQuarantine(p, true);
          log.policy.error({ policy: p, reason }, "policy quarantined");
        },
        onReload: (p, result) => {
          if (result.kind === "loaded" || result.kind === "updated") metrics.recordPolicyQuarantine(p, false);
        },
      },
    });
    stops.push({ name: "policies", run: () => policies.close() });
    for (const p of policies.policies()) metrics.addPolicy(p.name);
    for (const e of policies.loadReport.errors) log.policy.error({ file: e.file, line: e.line, column: e.column }, `policy failed to compile: ${e.message}`);

    // 4. Actions. Rebuilt when a reload changes the guardrails (dry-run included).
    // Which cgroups may be acted on comes from the watch rules; a reload that changes them replaces it.
    let actable = actScope(config.watch, (c) => identities.resolve(c));
    const mayAct = (cgroup: string): boolean => actable(cgroup);
    const makeExecutor = (guardrails: RuntimeConfig["guardrails"]): ActionExecutor =>
      createActionExecutor({
        layout,
        writer,
        procRoot: options.procRoot,
        guardrails,
        logger: log.actions,
        clock: { now },
        hostMemoryBytes: options.hostMemoryBytes,
        ownCgroups: options.ownCgroups,
        mayAct,
        hooks: { onOutcome: (proposal, outcome) => metrics.recordAction(proposal, outcome) },
      });
    let executor = makeExecutor(config.guardrails);

    // 5. Watch.
    const isParseProblem = (reason: string): boolean => reason === "malformed";
    const reader: FileReader = createFileReader({
      revalidateMs: config.safetyNetIntervalMs,
      hooks: {
        onProblem: (p, reason, message) => problems.report({ op: "read", path: p, reason, message }),
        onCleared: (p) => problems.clear("read", p, (reason) => !isParseProblem(reason)),
      },
    });
    stops.push({ name: "file reader", run: () => reader.close() });
    const own = new Set(options.ownCgroups);
    // What is watched and how it is labelled can change on reload: discovery re-evaluates them (refilter).
    // A rule's container selector counts too: a cgroup its path matches is watched only when its identity matches.
    const rulesOf = (c: RuntimeConfig): WatchRules => compileWatchRules(c.watch, (cg) => identities.resolve(cg));
    let currentRules = rulesOf(config);
    const watchFilter = (c: RuntimeConfig, rules: WatchRules): DiscoveryFilter => {
      const excluded = c.exclude.map(compileCgroupGlob);
      return { patterns: c.watch.map((w) => w.pattern), exclude: (cg) => own.has(cg) || excluded.some((m) => m(cg)) || (rules.byContainer && !rules.matches(cg)) };
    };
    const refilter = new Subject<DiscoveryFilter>();
    const labelsOf = (cgroup: string): Readonly<Record<string, string>> => currentRules.labelsOf(cgroup);
    const initialFilter = watchFilter(config, currentRules);
    lateIdentity = (cgroup, id) => {
      currentRules.forget(cgroup);
      metrics.setIdentity(cgroup, identityLabels(id));
    };
    const retention = createRetention({ windowMs: config.metrics.retainRemovedMs, persistent });
    stops.push({ name: "retention", run: () => retention.close() });
    const forensics: OomForensics | null =
      config.identity.kmsg === null
        ? null
        : createOomForensics({
            open: () => openKmsg(config.identity.kmsg ?? undefined),
            persistent,
            onUnavailable: (reason) => log.watch.warn({ reason }, "kernel OOM reports unreadable: oom_kill events will not name their victim"),
          });
    if (forensics !== null) stops.push({ name: "oom forensics", run: () => forensics.close() });
    const wantsSample = policies.policies().some((p) => p.on.includes("sample"));
    const psiTriggers = Object.fromEntries(
      (["memory", "cpu", "io"] as const).flatMap((r) => {
        const t = config.psi[r];
        return t === null ? [] : [[r, t.kernel]];
      }),
    );
    const watcher: Watcher = createWatcher({
      layout,
      reader,
      patterns: initialFilter.patterns,
      ...(initialFilter.exclude === undefined ? {} : { exclude: initialFilter.exclude }),
      refilter$: refilter,
      pollIntervalMs: config.pollIntervalMs,
      safetyNetIntervalMs: config.safetyNetIntervalMs,
      sampleIntervalMs: wantsSample ? config.sampleIntervalMs : null,
      native: options.native.kind === "loaded" ? createNativeNotifiers({ keepAlive: options.persistent ?? true, softLimitRecheckMs: config.safetyNetIntervalMs }) : null,
      psiTriggers,
      v1PressureLevels: pressureLevels(config, (c) => identities.resolve(c)),
      persistent: options.persistent ?? true,
      now,
      onProblem: (p) => problems.report({ op: "read", path: `${p.cgroup}/${p.file}`, cgroup: p.cgroup, reason: "malformed", message: `malformed control file ${p.file} of ${p.cgroup === "" ? "/" : p.cgroup}: ${p.reason}` }),
      onProblemCleared: (p) => problems.clear("read", `${p.cgroup}/${p.file}`, isParseProblem),
      // The reason, not a stack: a source failing on one cgroup (it vanished, a file is missing) is an operating condition, not a bug.
      onSourceError: (cgroup, source, err) =>
        log.watch.warn({ cgroup, source, reason: err instanceof Error ? err.message : String(err) }, "notification source failed; the safety net keeps re-reading"),
    });

    // A no-op until the state publisher exists (below).
    let refreshGauges: (cgroup: string) => void = () => undefined;
    /** The config last applied (startup, then each reload): what the next reload is compared with. */
    let applied: RuntimeConfig = config;
    let scanned = false;
    /** True while a reload's rescan drops cgroups (discovery reports them synchronously): they still exist, so no retention. */
    let adopting = false;
    /** Publishes one cgroup's settings soon (set once the publisher exists, below). */
    let publishSoon: (cgroup: string, delaysMs: readonly number[]) => void = () => undefined;
    /** The OOM line names the container and, once the kernel's report is read, the victim. */
    const logOom = (event: WatchdogEvent, victims: readonly OomVictim[]): void => {
      for (const v of victims) metrics.recordOomVictim(event.cgroup, { comm: v.comm, rssBytes: v.anonRssBytes + v.fileRssBytes + (v.shmemRssBytes ?? 0) });
      log.watch.warn({ event, ...(victims.length > 0 ? { victims, killed: killedSummary(victims) } : {}) }, oomKillMessage(event, identities.get(event.cgroup)));
    };
    const oomReporter = createOomReporter(forensics, logOom);
    /** Snapshot, policies, guarded actions: the policy work for one event. */
    const decide = (event: WatchdogEvent): Decided => {
      const evaluations: StallEvaluation[] = [];
      const decisions: StallDecision[] = [];
      const wanted = policies.wantsEvent(event.kind, event.cgroup);
      if (wanted || options.record !== undefined) {
        // Periodic samples read settings once (open/read/close) so that they
        // do not evict the kept fds the notification path re-reads.
        const snapshot: CgroupSnapshot = {
          ...readSnapshot(layout, reader, event.cgroup, labelsOf(event.cgroup), event.kind === "sample" ? "once" : "cached"),
          container: containerSnapshot(identities.get(event.cgroup)),
        };
        // A removed cgroup has nothing left to read: its trace line carries no snapshot (replay keeps the previous one).
        options.record?.(event, event.kind === "cgroup_removed" ? null : snapshot);
        for (const evaluation of wanted ? policies.evaluateDetailed(event, snapshot) : []) {
          evaluations.push(evaluation);
          for (const proposal of evaluation.proposals) {
            const outcome = executor.execute(proposal, { event: event.kind, at: event.at, source: event.source });
            decisions.push({ proposal, outcome });
            // Gauges of a cgroup cgwatch just changed show the new value on the next scrape, not a pass later.
            if (outcome.kind === "applied") refreshGauges(proposal.cgroup);
            options.onAction?.(proposal, outcome);
          }
        }
      }
      return { evaluations, decisions };
    };
    /** The policy work of coalesced kinds: at once for a cgroup's first, then one follow-up per window (docs/policies.md). */
    const policyWork = new Subject<WatchdogEvent>();
    const handle = (incoming: WatchdogEvent): void => {
      let event = incoming;
      metrics.heartbeat();
      switch (event.kind) {
        case "cgroup_added": {
          const t = watcher.trackers.get(event.cgroup);
          // Re-created within its retention window: a new cgroup, maybe a new container.
          if (retention.revive(event.cgroup)) {
            identities.forget(event.cgroup);
            currentRules.forget(event.cgroup);
          }
          // Created while watched, or there before (found at startup, or adopted by a reload's new watch
          // rules): the watcher decided it once, for its diffs; the metrics follow the same fact.
          const born = t?.bornWatched === true;
          metrics.addCgroup(event.cgroup, {
            origin: born ? "created" : "startup",
            memory: t === undefined ? null : memoryVersionOnDisk(t),
            cpu: locateController(layout, "cpu")?.version ?? null,
            pids: locateController(layout, "pids") !== null,
            identity: identityLabels(identities.resolve(event.cgroup)),
          });
          // After the first scan a cgroup new to the metrics is published now; one created while
          // watched again soon: an engine writes a container's limits after its mkdir (runc,
          // once the container's init reported ready: 0.1-0.6 s after the mkdir,
          // over 1 s on a loaded host), so a read at discovery sees defaults.
          if (scanned) {
            refreshGauges(event.cgroup);
            if (born) publishSoon(event.cgroup, [...new Set([100, 250, 500].filter((d) => d < config.pollIntervalMs)), config.pollIntervalMs, 2500, 5000]);
          }
          break;
        }
        case "cgroup_removed": {
          // A removed cgroup's last counters and identity stay exported for the retention window; one a
          // reload stopped watching (reported during the reload's rescan) exists still and goes at once.
          const cgroup = event.cgroup;
          const forget = (): void => {
            metrics.removeCgroup(cgroup);
            identities.forget(cgroup);
            currentRules.forget(cgroup);
          };
          if (adopting) forget();
          else {
            metrics.retireCgroup(cgroup);
            retention.retire(cgroup, forget);
          }
          break;
        }
        default:
          break;
      }
      metrics.recordEvent(event);
      if (event.kind === "oom_kill") {
        event = oomReporter.attach(event);
      } else if (event.kind === "under_oom" || event.kind === "oom_group_kill") log.watch.warn({ event }, oomKillMessage(event, identities.get(event.cgroup)));
      else if (event.kind !== "sample" && event.kind !== "cgroup_added" && event.kind !== "cgroup_removed") log.watch.debug({ event }, event.kind);
      // memory_high/memory_pressure policy work is coalesced per cgroup (src/coalesce/policyWork.ts); the rest is decided now.
      // (While recording, every event is decided: the trace pairs each one with the snapshot policies saw.)
      let decided = NOTHING_DECIDED;
      if (COALESCED_KINDS.has(event.kind) && options.record === undefined) policyWork.next(event);
      else decided = decide(event);
      if (isEmergency(event)) reportStall(event, decided.evaluations, decided.decisions);
      options.onEvent?.(event);
    };

    /** A stall under OOM never passes in silence: what became of this offer is counted, and logged unless it was answered. */
    const reportStall = (event: WatchdogEvent, evaluations: readonly StallEvaluation[], decisions: readonly StallDecision[]): void => {
      const r = stallOutcome(evaluations, decisions);
      metrics.recordOomStall(r.outcome);
      if (r.outcome === "applied" || r.outcome === "dry_run") return;
      const stalledMs = event.kind === "under_oom" ? Math.round(event.stalledMs) : null;
      log.actions.error({ cgroup: event.cgroup, stalledMs, outcome: r.outcome, reasons: r.reasons }, "under_oom stall not rescued; it is offered again while it lasts");
    };

    const subscription = new Subscription();
    subscription.add(
      policyWork.pipe(coalescePerKey(policyWorkRules, POLICY_COALESCE_MS, { followUp: (deliver) => setImmediate(deliver) })).subscribe((e) => {
        // A follow-up for a cgroup removed meanwhile has nothing left to act on.
        if (!watcher.trackers.has(e.cgroup)) return;
        try {
          decide(e);
        } catch (err) {
          log.lifecycle.error({ err, event: e }, "event handling failed");
        }
      }),
    );
    subscription.add(
      watcher.events$.subscribe({
        next: (e) => {
          try {
            handle(e);
          } catch (err) {
            // One event's failure (a bug) must not end the watch loop.
            log.lifecycle.error({ err, event: e }, "event handling failed");
          }
        },
        error: (err: unknown) => log.lifecycle.fatal({ err }, "watch loop failed"),
      }),
    );
    stops.push({ name: "watch loop", run: () => subscription.unsubscribe() });

    // Gauges (limits, usage, settings) and absolute counter mirrors are
    // published on a timer, in slices that yield to the loop.
    const publisher = publishCgroupState({
      watcher,
      layout,
      reader,
      metrics,
      labelsOf,
      everyMs: config.safetyNetIntervalMs,
      persistent: options.persistent ?? true,
    });
    stops.push({ name: "state publisher", run: () => publisher.stop() });
    refreshGauges = (cgroup) => publisher.refresh(cgroup);
    publishSoon = (cgroup, delaysMs) => publisher.publishSoon(cgroup, delaysMs);

    const ready = watcher.ready.then((n) => {
      scanned = true;
      metrics.heartbeat();
      publisher.kick();
      const optedIn = [...watcher.trackers.keys()].filter(mayAct).length;
      const dryRun = config.guardrails.global.dryRun;
      // The operator's first question about a watchdog: what will it touch? One line that says it.
      log.lifecycle.info(
        { watched: n, actable: dryRun ? 0 : optedIn, optedIn, dryRun },
        `watching ${n} cgroup${n === 1 ? "" : "s"}, ${dryRun ? `acting on none (dry-run; ${optedIn} opted in)` : `may act on ${optedIn}`}${optedIn < n ? ` (${n - optedIn} observed only: no watch rule with act: true matches them)` : ""}`,
      );
      log.lifecycle.info({ watched: n, actable: dryRun ? 0 : actable, mode: layout.mode, native: options.native.kind === "loaded" }, "ready: first scan complete");
      return n;
    });

    const heartbeatTimer = setInterval(() => metrics.heartbeat(), Math.min(5000, config.safetyNetIntervalMs));
    if (!(options.persistent ?? true)) heartbeatTimer.unref();
    stops.push({ name: "heartbeat", run: () => clearInterval(heartbeatTimer) });

    return {
      ready,
      metrics,
      metricsServer,
      policies,
      status: () =>
        [...watcher.trackers.values()].map((t) => ({
          cgroup: t.cgroup,
          act: mayAct(t.cgroup),
          notifier: watcher.notifierOf(t.cgroup),
          memoryVersion: t.memoryVersion,
          cpuQuota: t.hasCpuQuota(),
        })),
      reloadPolicies: async () => {
        const report = await policies.reload();
        for (const p of policies.policies()) metrics.addPolicy(p.name);
        for (const e of report.errors) log.policy.error({ file: e.file, line: e.line, column: e.column }, `policy failed to compile, previous version kept: ${e.message}`);
        return report;
      },
      applyConfig: (next) => {
        // Reloadable keys compare with the last reload; the others with what the daemon started with,
        // because that is what still runs (a second SIGHUP must name them again).
        const plan: ReloadPlan = { apply: planReload(applied, next).apply, restart: planReload(config, next).restart };
        for (const key of plan.apply) {
          switch (key) {
            case "log.level":
              logger.level = next.log.level;
              break;
            case "guardrails":
              // guardrails.global.dryRun mirrors the top-level dryRun, so a dryRun change lands here too.
              executor = makeExecutor(next.guardrails);
              break;
            case "policies.params":
            case "policies.disabled":
              policies.configure({ params: next.policies.params, disabled: next.policies.disabled });
              break;
            case "policies.cooldownsMs":
              policies.setCooldowns(next.policies.cooldownsMs);
              break;
            case "watch":
            case "exclude": {
              // Rules (labels, container selectors) and the act scope first, so a cgroup the rescan adds is labelled and judged by the new ones.
              currentRules = rulesOf(next);
              actable = actScope(next.watch, (c) => identities.resolve(c));
              adopting = true;
              try {
                refilter.next(watchFilter(next, currentRules));
              } finally {
                adopting = false;
              }
              break;
            }
          }
        }
        applied = next;
        return plan;
      },
      stop: runStops,
    };
  } catch (err) {
    await runStops();
    throw err;
  }
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

/** MemTotal from /proc/meminfo (bytes); 0 when the line is missing. */
export function hostMemoryBytes(procRoot: string): number {
  return parseMemTotal(fs.readFileSync(`${procRoot}/meminfo`, "utf8")) ?? 0;
}
