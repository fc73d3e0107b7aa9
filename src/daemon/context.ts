/**
 * What every startup step reads: the options, the loggers that name each
 * cgroup's container, the identity resolver and the file-problem log. Built
 * before the first step; `countProblems` points the problem log at the
 * metrics once they exist.
 */
import type { Logger } from "pino";
import type { CgroupLayout } from "../cgroup/layout.js";
import type { RuntimeConfig } from "../config/types.js";
import type { DaemonOptions } from "../daemon.js";
import { withContainerIdentity } from "../identity/log.js";
import { createIdentityResolver, type IdentityResolver } from "../identity/resolver.js";
import type { ContainerIdentity } from "../identity/types.js";
import { componentLogger } from "../logging/logger.js";
import { createProblemLog, type ProblemLog } from "../logging/problems.js";
import { createEventReads, type EventReads } from "../pipeline/eventReads.js";

/** One pino child per component; every line about a cgroup names its container. */
export interface DaemonLogs {
  readonly lifecycle: Logger;
  readonly watch: Logger;
  readonly policy: Logger;
  readonly actions: Logger;
  readonly metrics: Logger;
}

type CountProblem = (op: "read" | "write", file: string, reason: string) => void;

export interface StartContext {
  readonly options: DaemonOptions;
  readonly config: RuntimeConfig;
  readonly layout: CgroupLayout;
  readonly now: () => number;
  /** Keep the event loop alive on watches and timers (false in tests). */
  readonly persistent: boolean;
  readonly log: DaemonLogs;
  readonly identities: IdentityResolver;
  /** File problems (malformed, wrong type, replaced, refused write): logged once when they start and once when they clear. */
  readonly problems: ProblemLog;
  /** Settings read once per event decision (snapshot, executor, gauges' refresh); the writer's writes drop them. */
  readonly eventReads: EventReads;
  /** Counts file problems from now on (once metrics exist). */
  countProblems(count: CountProblem): void;
  /** Where a late identity (the engine's metadata appeared after the cgroup) goes, once metrics and rules exist. */
  onLateIdentity(fn: (cgroup: string, id: ContainerIdentity) => void): void;
}

export function createStartContext(options: DaemonOptions): StartContext {
  const persistent = options.persistent ?? true;
  let late: (cgroup: string, id: ContainerIdentity) => void = () => undefined;
  let count: CountProblem | null = null;
  const identities: IdentityResolver = createIdentityResolver({
    roots: options.config.identity.roots,
    persistent,
    onResolved: (cgroup, id) => late(cgroup, id),
    onUnreadable: (cgroup, file, reason) =>
      log.watch.warn({ cgroup, file }, `container metadata unreadable (${reason}): path-only identity`),
  });
  const named = (l: Logger): Logger => withContainerIdentity(l, (c) => identities.get(c));
  const log: DaemonLogs = {
    lifecycle: named(componentLogger(options.logger, "lifecycle")),
    watch: named(componentLogger(options.logger, "watch")),
    policy: named(componentLogger(options.logger, "policy")),
    actions: named(componentLogger(options.logger, "actions")),
    metrics: componentLogger(options.logger, "metrics"),
  };
  return {
    options,
    config: options.config,
    layout: options.layout,
    now: options.now ?? (() => performance.now()),
    persistent,
    log,
    identities,
    problems: createProblemLog({ logger: log.watch, count: (op, file, reason) => count?.(op, file, reason) }),
    eventReads: createEventReads(),
    countProblems: (fn) => (count = fn),
    onLateIdentity: (fn) => (late = fn),
  };
}
