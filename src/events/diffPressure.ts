/**
 * What a PSI trigger wake means, decided from the pressure file's `total`
 * stall counters, never from the avg10/avg60 averages: those are updated
 * every 2 s and decay slowly, so at a trigger's first wake avg10 often still
 * reads 0.00 (measured on 6.1 in the VM tier).
 *
 * The kernel fires a trigger when the stall grew by at least its threshold
 * within its window (kernel/sched/psi.c, update_triggers). cgwatch keeps the
 * stall totals it read (at discovery, on the safety net, on each wake) and
 * reports the growth over the trigger's window. A wake over which the total
 * did not move is not pressure: 6.1 wakes every trigger of a cgroup that is
 * being removed (kernfs drains the open files), and the file then reads the
 * same total or nothing at all.
 */
import type { Psi } from "../cgroup/parse.js";
import type { PressureStall } from "./types.js";

/** One read of a pressure file's totals (µs) at a monotonic time (ms). */
export interface StallReading {
  readonly at: number;
  readonly someUs: number;
  /** null where the file has no "full" line (cpu.pressure before 5.13). */
  readonly fullUs: number | null;
}

/** Readings older than this are never needed: the kernel's longest window is 10 s. */
const KEEP_MS = 20_000;
const KEEP_MAX = 32;

export function stallReading(at: number, psi: Psi): StallReading {
  return { at, someUs: psi.some.totalUs, fullUs: psi.full === null ? null : psi.full.totalUs };
}

/** The history with `reading` appended, pruned to what a 10 s window can still use. */
export function recordStall(history: readonly StallReading[], reading: StallReading): StallReading[] {
  const kept = history.filter((r) => r.at >= reading.at - KEEP_MS && r.at <= reading.at);
  kept.push(reading);
  return kept.slice(-KEEP_MAX);
}

/** "some 150000 1000000" → its parts; null for anything else (v1 levels carry no trigger). */
export function parseTriggerText(
  trigger: string,
): { readonly type: "some" | "full"; readonly thresholdUs: number; readonly windowUs: number } | null {
  const m = /^\s*(some|full)\s+(\d+)\s+(\d+)\s*$/.exec(trigger);
  if (m === null) return null;
  return { type: m[1] === "full" ? "full" : "some", thresholdUs: Number(m[2]), windowUs: Number(m[3]) };
}

export type PsiWakeVerdict =
  /** The stall total grew over the window: pressure, with the figures. */
  | { readonly kind: "pressure"; readonly stall: PressureStall }
  /** The total did not move over the window: not pressure (a removed cgroup's trigger, a spurious wake). */
  | { readonly kind: "no_stall" }
  /** Nothing read before this wake to diff against: pressure, without figures. */
  | { readonly kind: "no_baseline" };

/**
 * Judges one wake of `trigger` from the totals now and the readings before
 * it. The reference is the newest reading at least one window old (so the
 * growth spans the window the kernel looked at), else the oldest one.
 */
export function judgePsiWake(trigger: string, history: readonly StallReading[], now: StallReading): PsiWakeVerdict {
  const t = parseTriggerText(trigger);
  if (t === null) return { kind: "no_baseline" };
  const windowMs = t.windowUs / 1000;
  const before = history.filter((r) => r.at <= now.at);
  if (before.length === 0) return { kind: "no_baseline" };
  const old = before.filter((r) => r.at <= now.at - windowMs);
  const ref = old.length > 0 ? old[old.length - 1] : before[0];
  if (ref === undefined) return { kind: "no_baseline" };
  const total = (r: StallReading): number | null => (t.type === "some" ? r.someUs : r.fullUs);
  const a = total(ref);
  const b = total(now);
  if (a === null || b === null) return { kind: "no_baseline" };
  if (b <= a) return { kind: "no_stall" };
  return {
    kind: "pressure",
    stall: { type: t.type, stallUs: b - a, overMs: now.at - ref.at, thresholdUs: t.thresholdUs, windowUs: t.windowUs },
  };
}
