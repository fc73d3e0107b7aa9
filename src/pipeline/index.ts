/**
 * The per-event pipeline, composed: membership and observation for every
 * event, the beforePolicies operators, the decision (snapshot, policies,
 * executor), the settling (stall report, onEvent). pipeline.ts has the
 * stream, the stages their files.
 */
import type { Subscription } from "rxjs";
import type { Logger } from "pino";
import type { ActionExecutor } from "../actions/executor.js";
import type { CgroupLayout } from "../cgroup/layout.js";
import type { FileReader } from "../cgroup/read.js";
import type { RuntimeConfig } from "../config/types.js";
import type { IdentityResolver } from "../identity/resolver.js";
import type { Metrics } from "../metrics/metrics.js";
import type { OomForensics } from "../oom/forensics.js";
import type { Retention } from "../oom/retention.js";
import type { PolicyEngine } from "../policy/engine.js";
import { isFilteredKind, sampleFactsOf } from "../policy/sampleFilter.js";
import type { WatchdogEvent } from "../events/types.js";
import type { Watcher } from "../watch/watcher.js";
import { beforePolicies } from "./beforePolicies.js";
import { createDecide, createSettle, type DecideDeps } from "./decide.js";
import { createMembership } from "./membership.js";
import { createObserve } from "./observe.js";
import { runPipeline } from "./pipeline.js";
import type { Gauges, WatchScope } from "./types.js";

export type { Gauges, WatchScope } from "./types.js";

export interface PipelineDeps extends Pick<DecideDeps, "onAction" | "record" | "eventReads"> {
  readonly onEvent?: ((event: WatchdogEvent) => void) | undefined;
  readonly config: RuntimeConfig;
  readonly layout: CgroupLayout;
  readonly now: () => number;
  readonly watcher: Pick<Watcher, "events$" | "trackers">;
  readonly reader: FileReader;
  readonly metrics: Metrics;
  readonly identities: IdentityResolver;
  readonly scope: WatchScope;
  readonly retention: Retention;
  readonly forensics: OomForensics | null;
  readonly policies: PolicyEngine;
  readonly executor: () => ActionExecutor;
  readonly gauges: Gauges;
  readonly scanned: () => boolean;
  readonly log: { readonly watch: Logger; readonly actions: Logger; readonly lifecycle: Logger };
}

/** Subscribes the pipeline to the watcher's events (which starts discovery); unsubscribing stops it all. */
export function startPipeline(d: PipelineDeps): Subscription {
  const membership = createMembership({ ...d, pollIntervalMs: d.config.pollIntervalMs });
  const observe = createObserve({
    metrics: d.metrics,
    identities: d.identities,
    forensics: d.forensics,
    membership,
    log: d.log.watch,
  });
  // A sample or a cgroup_added is filtered by the policies' meta.sampleOnly / meta.addedOnly on what the
  // tracker and the labels already say, before any snapshot.
  const decide = createDecide({
    ...d,
    wants: (e) =>
      d.policies.wantsEvent(
        e.kind,
        e.cgroup,
        isFilteredKind(e.kind)
          ? sampleFactsOf(d.watcher.trackers.get(e.cgroup), d.scope.labelsOf(e.cgroup), e)
          : undefined,
      ),
  });
  const settle = createSettle({ metrics: d.metrics, log: d.log.actions, onEvent: d.onEvent });
  const operators = beforePolicies({
    config: d.config,
    now: d.now,
    recording: d.record !== undefined,
    isWatched: (c) => d.watcher.trackers.has(c),
  });
  return runPipeline(d.watcher.events$, { observe, beforePolicies: operators, decide, settle }, d.log.lifecycle);
}
