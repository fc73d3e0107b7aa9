import type { Observable, Subscription } from "rxjs";

/** Subscribes and records every value; `until` waits for a predicate over what arrived (bounded by a safety timeout). */
export function collect<T>(source: Observable<T>): {
  values: T[];
  sub: Subscription;
  until(pred: (vs: T[]) => boolean, timeoutMs?: number): Promise<T[]>;
} {
  const values: T[] = [];
  const waiters: { pred: (vs: T[]) => boolean; resolve: (vs: T[]) => void }[] = [];
  const sub = source.subscribe((v) => {
    values.push(v);
    for (const w of [...waiters]) {
      if (w.pred(values)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(values);
      }
    }
  });
  return {
    values,
    sub,
    until(pred, timeoutMs = 20_000) {
      if (pred(values)) return Promise.resolve(values);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out after ${timeoutMs} ms; got ${JSON.stringify(values).slice(0, 2000)}`)),
          timeoutMs,
        );
        waiters.push({
          pred,
          resolve: (vs) => {
            clearTimeout(timer);
            resolve(vs);
          },
        });
      });
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
