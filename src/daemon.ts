/**
 * The composition root of the watchdog: kernel → watch loop → policies →
 * guarded actions, with metrics and a log line at every stage. Everything
 * it needs arrives as arguments (config, layout, roots, native addon), so
 * the same daemon runs against /sys/fs/cgroup, a fake tree in a test, or the
 * VM's v2 kernel.
 *
 * Startup is an ordered list of named steps (lifecycle/steps.ts): identity →
 * self-protection → metrics → policies → actions → file reader → retention →
 * OOM forensics → watcher → watch loop (the per-event pipeline, src/pipeline/)
 * → state publisher → heartbeat. Shutdown runs their stops in reverse and
 * always runs every one; a step that fails stops the ones before it.
 */
import fs from "node:fs";
import type { Logger } from "pino";
import type { ActionOutcome, ActionProposal } from "./actions/types.js";
import { parseMemTotal } from "./actions/selfProtection.js";
import type { CgroupLayout } from "./cgroup/layout.js";
import type { CgroupSnapshot } from "./cgroup/snapshot.js";
import type { ReloadPlan } from "./config/reload.js";
import type { RuntimeConfig } from "./config/types.js";
import type { WatchdogEvent } from "./events/types.js";
import { identityLabels } from "./identity/labels.js";
import { createSteps, started } from "./lifecycle/steps.js";
import type { Metrics } from "./metrics/metrics.js";
import type { MetricsServer } from "./metrics/server.js";
import type { NativeLoad } from "./native/index.js";
import { startPipeline, type Gauges, type WatchScope } from "./pipeline/index.js";
import type { PolicyEngine } from "./policy/engine.js";
import type { PrecompiledPolicies } from "./policy/precompiled.js";
import type { ReloadReport } from "./policy/types.js";
import type { NotifierMode } from "./watch/notifiers.js";
import type { Watcher } from "./watch/watcher.js";
import { createStartContext } from "./daemon/context.js";
import { startMetrics } from "./daemon/metrics.js";
import { noteReload, startPolicies } from "./daemon/policies.js";
import { firstScan } from "./daemon/ready.js";
import { createConfigApplier } from "./daemon/reload.js";
import { createWatchScope } from "./daemon/scope.js";
import {
  executorFactory,
  startForensics,
  startHeartbeat,
  startPublisher,
  startReader,
  startRetention,
  startSelfProtection,
} from "./daemon/steps.js";
import { warmAfterReady } from "./daemon/warm.js";
import { startWatcher } from "./daemon/watch.js";

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
  /**
   * Sandboxes `cgwatch run`'s preflight compiled: the policies step adopts them instead of compiling
   * the same files again. The caller still releases the set after start (a no-op once adopted).
   */
  readonly precompiledPolicies?: PrecompiledPolicies;
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

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const c = createStartContext(options);
  const { config, log } = c;
  const steps = createSteps(log.lifecycle);
  steps.onStop("identity", () => c.identities.close());
  try {
    const writer = await steps.run("self-protection", () => startSelfProtection(c));
    const { metrics, server } = await steps.run("metrics", () => startMetrics(c));
    const policies = await steps.run("policies", () => startPolicies(c, metrics));
    // Which cgroups are watched, how they are labelled and which may be acted on: replaced by a reload.
    const scope = await steps.run("watch scope", () =>
      started(createWatchScope(config, c.identities, options.ownCgroups)),
    );
    // One executor, rebuilt when a reload changes the guardrails (dry-run included).
    const makeExecutor = executorFactory(c, writer, metrics, scope);
    let executor = await steps.run("actions", () => started(makeExecutor(config.guardrails)));
    const reader = await steps.run("file reader", () => startReader(c));
    // The snapshot and the gauges' refresh read through the event's settings memory; the tracker reads the files.
    const eventReader = c.eventReads.over(reader);
    c.onLateIdentity((cgroup, id) => {
      scope.forget(cgroup);
      metrics.setIdentity(cgroup, identityLabels(id));
    });
    const retention = await steps.run("retention", () => startRetention(c));
    const forensics = await steps.run("oom forensics", () => startForensics(c));
    const wantsSample = policies.policies().some((p) => p.on.includes("sample"));
    const watcher = await steps.run("watcher", () => startWatcher(c, reader, scope, wantsSample));
    // No-ops until the state publisher exists (it starts after the watch loop).
    const gauges: { -readonly [K in keyof Gauges]: Gauges[K] } = {
      refresh: () => undefined,
      publishSoon: () => undefined,
    };
    let scanned = false;
    await steps.run("watch loop", () => {
      const { layout, now, identities } = c;
      const deps = {
        config,
        layout,
        now,
        watcher,
        reader: eventReader,
        metrics,
        identities,
        scope,
        retention,
        forensics,
        policies,
        gauges,
        log,
      };
      const sub = startPipeline({
        ...deps,
        executor: () => executor,
        eventReads: c.eventReads,
        scanned: () => scanned,
        onEvent: options.onEvent,
        onAction: options.onAction,
        record: options.record,
      });
      return started(sub, () => sub.unsubscribe());
    });
    const publisher = await steps.run("state publisher", () => startPublisher(c, watcher, eventReader, metrics, scope));
    gauges.refresh = (cgroup) => publisher.refresh(cgroup);
    gauges.publishSoon = (cgroup, delaysMs) => publisher.publishSoon(cgroup, delaysMs);
    const ready = firstScan(c, { watcher, metrics, publisher, scope }, () => (scanned = true));
    // The decision path compiled before the first OOM needs it (warm.ts): reads only, no line, no count.
    warmAfterReady(c, ready, { watcher, reader: eventReader, writer, reads: c.eventReads });
    await steps.run("heartbeat", () => startHeartbeat(c, metrics));
    const applyConfig = createConfigApplier({
      started: config,
      logger: options.logger,
      policies,
      scope,
      setGuardrails: (g) => (executor = makeExecutor(g)),
    });
    return {
      ready,
      metrics,
      metricsServer: server,
      policies,
      status: () => statusOf(watcher, scope),
      reloadPolicies: async () => {
        const report = await policies.reload();
        noteReload(policies, metrics);
        return report;
      },
      applyConfig,
      stop: () => steps.stop(),
    };
  } catch (err) {
    await steps.stop();
    throw err;
  }
}

/** Each watched cgroup: whether it may be acted on, how it is notified, its memory version, whether it has a CPU quota. */
function statusOf(watcher: Watcher, scope: WatchScope): CgroupStatus[] {
  return [...watcher.trackers.values()].map((t) => ({
    cgroup: t.cgroup,
    act: scope.mayAct(t.cgroup),
    notifier: watcher.notifierOf(t.cgroup),
    memoryVersion: t.memoryVersion,
    cpuQuota: t.hasCpuQuota(),
  }));
}

/** MemTotal from /proc/meminfo (bytes); 0 when the line is missing. */
export function hostMemoryBytes(procRoot: string): number {
  return parseMemTotal(fs.readFileSync(`${procRoot}/meminfo`, "utf8")) ?? 0;
}
