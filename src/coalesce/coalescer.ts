/**
 * Per-key coalescing, pure: no timers, no I/O. The first item of a key goes
 * through at once and opens a window for that key; items of the same key
 * that arrive while it is open are folded into ONE pending item (`merge`),
 * not queued. When the window ends, the pending item (if any) goes through
 * and opens the next window; otherwise the key is idle again. So a key costs
 * at most one item per window, the first one is never delayed, and the last
 * one is never lost. Items whose key is null are never held.
 *
 * The caller owns time: it arms a timer for `windowMs` whenever an outcome
 * says a window opened, and calls `expire(key)` when it fires
 * (./operator.ts does this on an rxjs scheduler).
 */
export interface CoalesceRules<T> {
  /** The item's key, or null when it is never coalesced. */
  key(item: T): string | null;
  /** Folds an item that arrived during the window into the one already pending. */
  merge(pending: T, later: T): T;
}

/** What to do with an offered item: pass it now (a window opened for `key`, unless key is null), or nothing (held). */
export type Offer<T> =
  | { readonly kind: "pass"; readonly item: T; readonly key: string | null }
  | { readonly kind: "held"; readonly key: string };

/** At the end of a key's window: pass the pending item (the next window opens), or the key is idle. */
export type Expiry<T> = { readonly kind: "pass"; readonly item: T } | { readonly kind: "idle" };

export interface Coalescer<T> {
  offer(item: T): Offer<T>;
  expire(key: string): Expiry<T>;
  /** Keys whose window is open, pending item or not. */
  openKeys(): readonly string[];
  /** Removes and returns every pending item (completion: nothing is lost). */
  drain(): T[];
}

export function createCoalescer<T>(rules: CoalesceRules<T>): Coalescer<T> {
  /** Open windows, with the item held for each (null: none yet). */
  const open = new Map<string, { pending: T | null }>();
  return {
    offer(item) {
      const key = rules.key(item);
      if (key === null) return { kind: "pass", item, key: null };
      const w = open.get(key);
      if (w === undefined) {
        open.set(key, { pending: null });
        return { kind: "pass", item, key };
      }
      w.pending = w.pending === null ? item : rules.merge(w.pending, item);
      return { kind: "held", key };
    },
    expire(key) {
      const w = open.get(key);
      if (w === undefined || w.pending === null) {
        open.delete(key);
        return { kind: "idle" };
      }
      const item = w.pending;
      w.pending = null;
      return { kind: "pass", item };
    },
    openKeys: () => [...open.keys()],
    drain() {
      const out: T[] = [];
      for (const w of open.values()) if (w.pending !== null) out.push(w.pending);
      open.clear();
      return out;
    },
  };
}
