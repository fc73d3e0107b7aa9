/**
 * The daemon's startup steps that own something to release: each returns
 * its value and its stop (lifecycle/steps.ts runs them in order, the stops
 * in reverse). The order itself is in daemon.ts.
 */
import { createActionExecutor, type ActionExecutor } from "../actions/executor.js";
import { protectSelf } from "../actions/selfProtection.js";
import { createFileReader, type FileReader } from "../cgroup/read.js";
import { createGuardedWriter, type GuardedWriter } from "../cgroup/writer.js";
import type { RuntimeConfig } from "../config/types.js";
import { started, type Started } from "../lifecycle/steps.js";
import type { Metrics } from "../metrics/metrics.js";
import { createOomForensics, type OomForensics } from "../oom/forensics.js";
import { openKmsg } from "../oom/kmsgReader.js";
import { createRetention, type Retention } from "../oom/retention.js";
import type { WatchScope } from "../pipeline/types.js";
import { publishCgroupState, type Publisher } from "../watch/publish.js";
import type { Watcher } from "../watch/watcher.js";
import type { StartContext } from "./context.js";
import { isParseProblem } from "./watch.js";

/** The guarded writer, and cgwatch's own oom_score_adj: the watchdog must survive the pressure it exists for. */
export function startSelfProtection(c: StartContext): Started<GuardedWriter> {
  const { options, problems } = c;
  const writer = createGuardedWriter(c.layout, options.procRoot, {
    onUnsafe: (p, reason, message) => problems.report({ op: "write", path: p, reason, message }),
    onWritten: (p) => {
      c.eventReads.written(p);
      problems.clear("write", p);
    },
  });
  if (options.protectSelf ?? true)
    protectSelf({
      procRoot: options.procRoot,
      value: c.config.selfProtection.oomScoreAdj,
      writer,
      logger: c.log.lifecycle,
    });
  return started(writer);
}

/** Builds an executor on given guardrails; a reload that changes them builds the next one. */
export function executorFactory(
  c: StartContext,
  writer: GuardedWriter,
  metrics: Metrics,
  scope: WatchScope,
): (guardrails: RuntimeConfig["guardrails"]) => ActionExecutor {
  const { options } = c;
  return (guardrails) =>
    createActionExecutor({
      layout: c.layout,
      writer,
      procRoot: options.procRoot,
      guardrails,
      logger: c.log.actions,
      clock: { now: c.now },
      hostMemoryBytes: options.hostMemoryBytes,
      ownCgroups: options.ownCgroups,
      mayAct: scope.mayAct,
      read: (p) => c.eventReads.readAt(p),
      hooks: { onOutcome: (proposal, outcome) => metrics.recordAction(proposal, outcome) },
    });
}

export function startReader(c: StartContext): Started<FileReader> {
  const { problems } = c;
  const reader = createFileReader({
    revalidateMs: c.config.safetyNetIntervalMs,
    hooks: {
      onProblem: (p, reason, message) => problems.report({ op: "read", path: p, reason, message }),
      onCleared: (p) => problems.clear("read", p, (reason) => !isParseProblem(reason)),
    },
  });
  return started(reader, () => reader.close());
}

/** A removed cgroup's final series stay exported for `metrics.retainRemoved`. */
export function startRetention(c: StartContext): Started<Retention> {
  const retention = createRetention({ windowMs: c.config.metrics.retainRemovedMs, persistent: c.persistent });
  return started(retention, () => retention.close());
}

/** The kernel's OOM reports (/dev/kmsg), so that an oom_kill names its victim; off when `identity.kmsg` is null. */
export function startForensics(c: StartContext): Started<OomForensics | null> {
  const kmsg = c.config.identity.kmsg;
  if (kmsg === null) return started(null);
  const forensics = createOomForensics({
    open: () => openKmsg(kmsg),
    persistent: c.persistent,
    onUnavailable: (reason) =>
      c.log.watch.warn({ reason }, "kernel OOM reports unreadable: oom_kill events will not name their victim"),
  });
  return started(forensics, () => forensics.close());
}

/** Gauges (limits, usage, settings) and absolute counter mirrors, published on a timer in slices that yield to the loop. */
export function startPublisher(
  c: StartContext,
  watcher: Watcher,
  reader: FileReader,
  metrics: Metrics,
  scope: WatchScope,
): Started<Publisher> {
  const publisher = publishCgroupState({
    watcher,
    layout: c.layout,
    reader,
    metrics,
    labelsOf: scope.labelsOf,
    everyMs: c.config.safetyNetIntervalMs,
    persistent: c.persistent,
  });
  return started(publisher, () => publisher.stop());
}

/** The loop's heartbeat while idle (events beat it too): /healthz and systemd's watchdog read it. */
export function startHeartbeat(c: StartContext, metrics: Metrics): Started<null> {
  const timer = setInterval(() => metrics.heartbeat(), Math.min(5000, c.config.safetyNetIntervalMs));
  if (!c.persistent) timer.unref();
  return started(null, () => clearInterval(timer));
}
