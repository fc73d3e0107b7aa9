/**
 * What a SIGHUP can change. Pure: compares the config last applied with the
 * one just loaded and sorts every changed key into "applied now" or "needs a
 * restart", so the daemon applies the first and names the second in one
 * warning instead of silently keeping old values.
 */
import type { RuntimeConfig } from "./types.js";

/**
 * Keys the running daemon applies on reload. Everything else needs a
 * restart: the intervals and PSI triggers are wired into the sources at
 * start, the sandbox limits into each policy's WebAssembly
 * instance, the listen address into the bound socket.
 */
export const RELOADABLE_KEYS: ReadonlySet<string> = new Set([
  "watch",
  "exclude",
  "log.level",
  "dryRun",
  "guardrails",
  "policies.params",
  "policies.disabled",
  "policies.cooldownsMs",
]);

/** The key paths compared: nested objects whose parts reload differently are split one level down. */
const SPLIT: ReadonlySet<string> = new Set(["policies", "log"]);

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Every changed key path ("log.level", "policies.params", "watch"), in config order. */
export function changedKeys(before: RuntimeConfig, after: RuntimeConfig): string[] {
  const out: string[] = [];
  for (const key of Object.keys(after) as (keyof RuntimeConfig)[]) {
    const a: unknown = before[key];
    const b: unknown = after[key];
    if (SPLIT.has(key) && typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
      const ra = a as Record<string, unknown>;
      const rb = b as Record<string, unknown>;
      for (const sub of new Set([...Object.keys(ra), ...Object.keys(rb)]))
        if (!same(ra[sub], rb[sub])) out.push(`${key}.${sub}`);
    } else if (!same(a, b)) {
      out.push(key);
    }
  }
  return out;
}

export interface ReloadPlan {
  /** Changed keys the daemon applies now. */
  readonly apply: readonly string[];
  /** Changed keys that keep their old value until a restart. */
  readonly restart: readonly string[];
}

export function planReload(before: RuntimeConfig, after: RuntimeConfig): ReloadPlan {
  const changed = changedKeys(before, after);
  return {
    apply: changed.filter((k) => RELOADABLE_KEYS.has(k)),
    restart: changed.filter((k) => !RELOADABLE_KEYS.has(k)),
  };
}
