/**
 * The path of one event through the daemon, as a stream:
 *
 *   watcher.events$ ─► observe (heartbeat, membership, metrics, log line)
 *                   ─► beforePolicies operators (beforePolicies.ts)
 *                   ─► decide (snapshot → policies.evaluate → executor.execute → metrics/log, stall report)
 *
 * One event's failure (a bug) is logged with the event and skips the rest
 * of its path; it never ends the watch loop.
 */
import { mergeMap, type MonoTypeOperatorFunction, type Observable, type Subscription } from "rxjs";
import type { Logger } from "pino";
import type { WatchdogEvent } from "../events/types.js";

export interface PipelineStages {
  readonly observe: (event: WatchdogEvent) => WatchdogEvent;
  readonly beforePolicies: readonly MonoTypeOperatorFunction<WatchdogEvent>[];
  readonly decide: (event: WatchdogEvent) => void;
}

export function runPipeline(events$: Observable<WatchdogEvent>, stages: PipelineStages, log: Pick<Logger, "error" | "fatal">): Subscription {
  const failed = (err: unknown, event: WatchdogEvent): void => log.error({ err, event }, "event handling failed");
  const observed$ = events$.pipe(
    mergeMap((event) => {
      try {
        return [stages.observe(event)];
      } catch (err) {
        failed(err, event);
        return [];
      }
    }),
  );
  const forPolicies$ = stages.beforePolicies.reduce((e$, op) => e$.pipe(op), observed$);
  return forPolicies$.subscribe({
    next: (event) => {
      try {
        stages.decide(event);
      } catch (err) {
        failed(err, event);
      }
    },
    error: (err: unknown) => log.fatal({ err }, "watch loop failed"),
  });
}
