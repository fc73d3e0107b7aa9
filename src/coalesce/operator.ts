/**
 * The rxjs side of ./coalescer.ts: `coalescePerKey(rules, windowMs)` passes
 * each key's first item at once and at most one merged follow-up per
 * `windowMs` after it, on a scheduler (virtual time in tests). Completion
 * passes whatever is still pending first; unsubscribing cancels the timers.
 * `followUp` decides when a follow-up is delivered once its window ended:
 * the daemon passes setImmediate, so that a follow-up's policy call runs
 * after the loop has polled the fds that became ready meanwhile (a PSI wake
 * is not kept waiting behind it).
 */
import { Observable, asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from "rxjs";
import { createCoalescer, type CoalesceRules } from "./coalescer.js";

export interface CoalesceOptions {
  readonly scheduler?: SchedulerLike;
  /** Runs `deliver` for a follow-up; default: at once. Deliveries after unsubscribing are dropped. */
  readonly followUp?: (deliver: () => void) => void;
}

export function coalescePerKey<T>(
  rules: CoalesceRules<T>,
  windowMs: number,
  options: CoalesceOptions = {},
): MonoTypeOperatorFunction<T> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const followUp = options.followUp ?? ((deliver: () => void) => deliver());
  return (source) =>
    new Observable<T>((subscriber) => {
      const c = createCoalescer(rules);
      const timers = new Map<string, Subscription>();
      const arm = (key: string): void => {
        timers.set(
          key,
          scheduler.schedule(() => {
            timers.delete(key);
            const x = c.expire(key);
            if (x.kind === "idle") return;
            arm(key); // the follow-up opens the next window before it runs
            followUp(() => {
              if (!subscriber.closed) subscriber.next(x.item);
            });
          }, windowMs),
        );
      };
      const sub = source.subscribe({
        next: (item) => {
          const o = c.offer(item);
          if (o.kind === "held") return;
          if (o.key !== null) arm(o.key);
          subscriber.next(o.item);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          for (const t of timers.values()) t.unsubscribe();
          timers.clear();
          for (const item of c.drain()) subscriber.next(item);
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        for (const t of timers.values()) t.unsubscribe();
        timers.clear();
      };
    });
}
