/**
 * The policy stage: if a policy wants the event (or `--record` is on), a
 * read-only snapshot of the cgroup, the policies' proposals, and each
 * proposal through the executor (which counts and logs its outcome). Then
 * settling: a stall under OOM is accounted for, whatever became of it.
 */
import type { Logger } from "pino";
import type { ActionExecutor } from "../actions/executor.js";
import { stallOutcome, type StallDecision, type StallEvaluation } from "../actions/stallOutcome.js";
import type { ActionOutcome, ActionProposal } from "../actions/types.js";
import type { CgroupLayout } from "../cgroup/layout.js";
import type { FileReader } from "../cgroup/read.js";
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import { isEmergency, type WatchdogEvent } from "../events/types.js";
import { containerSnapshot } from "../identity/labels.js";
import type { IdentityResolver } from "../identity/resolver.js";
import type { Metrics } from "../metrics/metrics.js";
import type { PolicyEngine } from "../policy/engine.js";
import { readSnapshot } from "../watch/snapshot.js";
import type { EventReads } from "./eventReads.js";
import type { Decided } from "./pipeline.js";
import type { Gauges, WatchScope } from "./types.js";

export interface DecideDeps {
  readonly layout: CgroupLayout;
  readonly reader: FileReader;
  readonly identities: Pick<IdentityResolver, "get">;
  readonly scope: Pick<WatchScope, "labelsOf">;
  readonly policies: Pick<PolicyEngine, "evaluateDetailed">;
  /** Whether a policy wants this event (meta.on, meta.match, quarantine). */
  readonly wants: (event: WatchdogEvent) => boolean;
  /** The current executor (a reload of the guardrails replaces it). */
  readonly executor: () => Pick<ActionExecutor, "execute">;
  readonly gauges: Pick<Gauges, "refresh">;
  readonly onAction?: ((proposal: ActionProposal, outcome: ActionOutcome) => void) | undefined;
  readonly record?: ((event: WatchdogEvent, snapshot: CgroupSnapshot | null) => void) | undefined;
  /** Settings read once per decision: the snapshot's reads serve the executor and the refresh (eventReads.ts). */
  readonly eventReads?: Pick<EventReads, "during"> | undefined;
}

interface Deciding {
  readonly evaluations: StallEvaluation[];
  readonly decisions: StallDecision[];
}

/** The cgroups changed so far by one event: nearly always one, so no Set until a second. */
function withCgroup(changed: string | Set<string> | null, cgroup: string): string | Set<string> {
  if (changed === null || changed === cgroup) return cgroup;
  if (typeof changed === "string") return new Set([changed, cgroup]);
  return changed.add(cgroup);
}

/**
 * How a snapshot reads its ~14 files. Only the notification path, which
 * re-reads the same cgroup, keeps fds. A periodic sample, and the one
 * `cgroup_added` every cgroup gets at discovery, read once (open/read/close):
 * kept, the first scan's snapshots spent the whole fd budget on settings
 * files of the first few hundred cgroups (at 10k: 715 cgroups × 14 files),
 * and the memory.events of all the others was re-opened on every event.
 */
export function snapshotReadMode(event: WatchdogEvent): "once" | "cached" {
  return event.kind === "sample" || event.kind === "cgroup_added" ? "once" : "cached";
}

export function createDecide(deps: DecideDeps): (event: WatchdogEvent) => Decided {
  const snapshotOf = (event: WatchdogEvent): CgroupSnapshot => ({
    ...readSnapshot(deps.layout, deps.reader, event.cgroup, deps.scope.labelsOf(event.cgroup), snapshotReadMode(event)),
    container: containerSnapshot(deps.identities.get(event.cgroup)),
  });

  const evaluate = (event: WatchdogEvent, snapshot: CgroupSnapshot, into: Deciding): void => {
    const context = { event: event.kind, at: event.at, source: event.source };
    let changed: string | Set<string> | null = null;
    for (const evaluation of deps.policies.evaluateDetailed(event, snapshot)) {
      into.evaluations.push(evaluation);
      for (const proposal of evaluation.proposals) {
        const outcome = deps.executor().execute(proposal, context);
        into.decisions.push({ proposal, outcome });
        if (outcome.kind === "applied") changed = withCgroup(changed, proposal.cgroup);
        deps.onAction?.(proposal, outcome);
      }
    }
    // Gauges of a cgroup cgwatch just changed show the new value on the next
    // scrape, not a pass later. A re-publish reads ~20 files: once per changed
    // cgroup, after all of the event's actions, so none of them waits for it.
    if (typeof changed === "string") deps.gauges.refresh(changed);
    else if (changed !== null) for (const cgroup of changed) deps.gauges.refresh(cgroup);
  };

  const decideNow = (event: WatchdogEvent, wanted: boolean): Decided => {
    const decided: Deciding = { evaluations: [], decisions: [] };
    const snapshot = snapshotOf(event);
    // A removed cgroup has nothing left to read: its trace line carries no snapshot (replay keeps the previous one).
    deps.record?.(event, event.kind === "cgroup_removed" ? null : snapshot);
    if (wanted) evaluate(event, snapshot, decided);
    return decided;
  };

  return (event) => {
    const wanted = deps.wants(event);
    if (!wanted && deps.record === undefined) return { evaluations: [], decisions: [] };
    return deps.eventReads === undefined
      ? decideNow(event, wanted)
      : deps.eventReads.during(() => decideNow(event, wanted));
  };
}

export interface SettleDeps {
  readonly metrics: Pick<Metrics, "recordOomStall">;
  readonly log: Logger;
  readonly onEvent?: ((event: WatchdogEvent) => void) | undefined;
}

/** After its decision (or with nothing decided, when an operator held it): the stall report, then the onEvent hook. */
export function createSettle(deps: SettleDeps): (event: WatchdogEvent, decided: Decided) => void {
  /** A stall under OOM never passes in silence: what became of this offer is counted, and logged unless it was answered. */
  const reportStall = (event: WatchdogEvent, decided: Decided): void => {
    const r = stallOutcome(decided.evaluations, decided.decisions);
    deps.metrics.recordOomStall(r.outcome);
    if (r.outcome === "applied" || r.outcome === "dry_run") return;
    const stalledMs = event.kind === "under_oom" ? Math.round(event.stalledMs) : null;
    deps.log.error(
      { cgroup: event.cgroup, stalledMs, outcome: r.outcome, reasons: r.reasons },
      "under_oom stall not rescued; it is offered again while it lasts",
    );
  };
  return (event, decided) => {
    if (isEmergency(event)) reportStall(event, decided);
    deps.onEvent?.(event);
  };
}
