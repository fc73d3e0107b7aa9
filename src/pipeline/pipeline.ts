/**
 * The path of one event through the daemon, as a stream:
 *
 *   watcher.events$ ─► observe (heartbeat, membership, metrics, log line)
 *                   ─► beforePolicies operators (beforePolicies.ts) ─► decide (snapshot → policies → executor)
 *                   ─► settle (an under_oom stall's outcome, the onEvent hook)
 *
 * Every event is observed and settled in the order it arrived; what the
 * operators pass on is decided, at once or later (an operator may hold an
 * event and pass a merged one afterwards: that one is decided, not settled
 * again). An event the operators hold is settled with nothing decided. One
 * event's failure (a bug) is logged with the event and skips the rest of its
 * path; it never ends the watch loop.
 */
import { Subject, Subscription, type MonoTypeOperatorFunction, type Observable } from "rxjs";
import type { Logger } from "pino";
import type { StallDecision, StallEvaluation } from "../actions/stallOutcome.js";
import type { WatchdogEvent } from "../events/types.js";

/** What the policies made of one event: their evaluations and the executor's outcome of each proposal. */
export interface Decided {
  readonly evaluations: readonly StallEvaluation[];
  readonly decisions: readonly StallDecision[];
}

export const NOTHING_DECIDED: Decided = { evaluations: [], decisions: [] };

export interface PipelineStages {
  readonly observe: (event: WatchdogEvent) => WatchdogEvent;
  readonly beforePolicies: readonly MonoTypeOperatorFunction<WatchdogEvent>[];
  readonly decide: (event: WatchdogEvent) => Decided;
  readonly settle: (event: WatchdogEvent, decided: Decided) => void;
}

export function runPipeline(
  events$: Observable<WatchdogEvent>,
  stages: PipelineStages,
  log: Pick<Logger, "error" | "fatal">,
): Subscription {
  const failed = (err: unknown, event: WatchdogEvent): void => log.error({ err, event }, "event handling failed");
  /** The last event decided synchronously, so that its own settle sees what became of it (null: its decision failed). */
  const last: { event: WatchdogEvent | null; decided: Decided | null } = { event: null, decided: null };
  const toPolicies = new Subject<WatchdogEvent>();
  const subscription = new Subscription();
  const decided$ = stages.beforePolicies.reduce((e$, op) => e$.pipe(op), toPolicies.asObservable());
  subscription.add(
    decided$.subscribe({
      next: (event) => {
        last.event = event;
        last.decided = null;
        try {
          last.decided = stages.decide(event);
        } catch (err) {
          failed(err, event);
        }
      },
      error: (err: unknown) => log.fatal({ err }, "policy stream failed"),
    }),
  );
  subscription.add(
    events$.subscribe({
      next: (incoming) => {
        try {
          const event = stages.observe(incoming);
          last.event = null;
          toPolicies.next(event);
          if (last.event !== event) stages.settle(event, NOTHING_DECIDED);
          else if (last.decided !== null) stages.settle(event, last.decided);
        } catch (err) {
          failed(err, incoming);
        }
      },
      error: (err: unknown) => log.fatal({ err }, "watch loop failed"),
    }),
  );
  return subscription;
}
