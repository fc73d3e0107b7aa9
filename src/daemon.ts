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
import { Subscription } from "rxjs";
import type { Logger } from "pino";
import type { ActionOutcome, ActionProposal } from "./actions/types.js";
import { createActionExecutor, type ActionExecutor } from "./actions/executor.js";
import { parseMemTotal, protectSelf } from "./actions/selfProtection.js";
import { locateController, type CgroupLayout } from "./cgroup/layout.js";
import { compileCgroupGlob } from "./cgroup/glob.js";
import { createFileReader, type FileReader } from "./cgroup/read.js";
import { createGuardedWriter } from "./cgroup/writer.js";
import { actScope } from "./config/actScope.js";
import type { RuntimeConfig } from "./config/types.js";
import type { WatchdogEvent } from "./events/types.js";
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
import type { NotifierMode } from "./watch/notifiers.js";
import { createWatcher, type Watcher } from "./watch/watcher.js";
import { publishCgroupState } from "./watch/publish.js";

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
  /** Applies the settings that can change without a restart. */
  applyConfig(next: RuntimeConfig): string[];
  stop(): Promise<void>;
}

/** Labels for a cgroup: every watch rule whose pattern matches contributes its labels (later rules win). */
function labeller(config: RuntimeConfig): (cgroup: string) => Readonly<Record<string, string>> {
  const rules = config.watch.map((r) => ({ match: compileCgroupGlob(r.pattern), labels: r.labels }));
  const cache = new Map<string, Readonly<Record<string, string>>>();
  return (cgroup) => {
    let l = cache.get(cgroup);
    if (l === undefined) {
      const merged: Record<string, string> = {};
      for (const r of rules) if (r.match(cgroup)) Object.assign(merged, r.labels);
      l = Object.freeze(merged);
      cache.set(cgroup, l);
    }
    return l;
  };
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, layout, logger } = options;
  const now = options.now ?? (() => performance.now());
  const log = {
    lifecycle: componentLogger(logger, "lifecycle"),
    watch: componentLogger(logger, "watch"),
    policy: componentLogger(logger, "policy"),
    actions: componentLogger(logger, "actions"),
    metrics: componentLogger(logger, "metrics"),
  };
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
    // Which cgroups may be acted on comes from the watch rules, which need a restart to change.
    const mayAct = actScope(config.watch);
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
    const excluded = config.exclude.map(compileCgroupGlob);
    const labelsOf = labeller(config);
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
      patterns: config.watch.map((w) => w.pattern),
      exclude: (c) => own.has(c) || excluded.some((m) => m(c)),
      pollIntervalMs: config.pollIntervalMs,
      safetyNetIntervalMs: config.safetyNetIntervalMs,
      sampleIntervalMs: wantsSample ? config.sampleIntervalMs : null,
      native: options.native.kind === "loaded" ? createNativeNotifiers({ keepAlive: options.persistent ?? true, softLimitRecheckMs: config.safetyNetIntervalMs }) : null,
      psiTriggers,
      persistent: options.persistent ?? true,
      now,
      onProblem: (p) => problems.report({ op: "read", path: `${p.cgroup}/${p.file}`, cgroup: p.cgroup, reason: "malformed", message: `malformed control file ${p.file} of ${p.cgroup === "" ? "/" : p.cgroup}: ${p.reason}` }),
      onProblemCleared: (p) => problems.clear("read", `${p.cgroup}/${p.file}`, isParseProblem),
      onSourceError: (cgroup, source, err) => log.watch.warn({ cgroup, source, err }, "notification source failed; the safety net keeps re-reading"),
    });

    /** The config last applied (startup, then each reload): what the next reload is compared with. */
    let applied: RuntimeConfig = config;
    let scanned = false;
    const handle = (event: WatchdogEvent): void => {
      metrics.heartbeat();
      switch (event.kind) {
        case "cgroup_added": {
          const t = watcher.trackers.get(event.cgroup);
          metrics.addCgroup(event.cgroup, {
            origin: scanned ? "created" : "startup",
            memory: t?.memoryVersion ?? null,
            cpu: locateController(layout, "cpu")?.version ?? null,
            pids: locateController(layout, "pids") !== null,
          });
          // A container's limits are written after its mkdir: publish its
          // settings within one poll interval, not at the next full pass.
          // (runc writes them once the container's init reported ready:
          // measured 0.1-0.6 s after the mkdir on a busy host.)
          if (scanned) publisher.publishSoon(event.cgroup, [...new Set([100, 250, 500].filter((d) => d < config.pollIntervalMs)), config.pollIntervalMs]);
          break;
        }
        case "cgroup_removed":
          metrics.removeCgroup(event.cgroup);
          break;
        default:
          metrics.recordEvent(event);
      }
      if (event.kind === "oom_kill" || event.kind === "under_oom" || event.kind === "oom_group_kill") log.watch.warn({ event }, `${event.kind} in ${event.cgroup}`);
      else if (event.kind !== "sample" && event.kind !== "cgroup_added" && event.kind !== "cgroup_removed") log.watch.debug({ event }, event.kind);
      if (policies.wantsEvent(event.kind, event.cgroup)) {
        // Periodic samples read settings once (open/read/close) so that they
        // do not evict the kept fds the notification path re-reads.
        const snapshot = readSnapshot(layout, reader, event.cgroup, labelsOf(event.cgroup), event.kind === "sample" ? "once" : "cached");
        for (const proposal of policies.evaluate(event, snapshot)) {
          const outcome = executor.execute(proposal, { event: event.kind, at: event.at, source: event.source });
          options.onAction?.(proposal, outcome);
        }
      }
      options.onEvent?.(event);
    };

    const subscription = new Subscription();
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

    const ready = watcher.ready.then((n) => {
      scanned = true;
      metrics.heartbeat();
      publisher.kick();
      const actable = [...watcher.trackers.keys()].filter(mayAct).length;
      const dryRun = config.guardrails.global.dryRun;
      // The operator's first question about a watchdog: what will it touch? One line that says it.
      log.lifecycle.info(
        { watched: n, actable: dryRun ? 0 : actable, optedIn: actable, dryRun },
        `watching ${n} cgroup${n === 1 ? "" : "s"}, ${dryRun ? `acting on none (dry-run; ${actable} opted in)` : `may act on ${actable}`}${actable < n ? ` (${n - actable} observed only: no watch rule with act: true matches them)` : ""}`,
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
        const changed: string[] = [];
        if (next.log.level !== applied.log.level) {
          logger.level = next.log.level;
          changed.push("log.level");
        }
        // guardrails.global.dryRun mirrors the top-level dryRun, so this covers it.
        if (JSON.stringify(next.guardrails) !== JSON.stringify(applied.guardrails)) {
          executor = makeExecutor(next.guardrails);
          changed.push("guardrails");
        }
        applied = next;
        return changed;
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
