/**
 * PSI trigger settings ("some 150ms 1s") checked against the kernel's own
 * rules (kernel/sched/psi.c, psi_trigger_create): the window must lie in
 * [500 ms, 10 s] and the stall threshold in (0, window]. Checking here turns
 * the kernel's bare EINVAL at run time into a config error with a line.
 * Privileged triggers only: cgwatch holds CAP_SYS_RESOURCE, so the
 * "window a multiple of 2 s" rule for unprivileged users does not apply.
 */
import { parseDuration } from "../cgroup/parse.js";
import type { PsiTrigger } from "./types.js";

export const PSI_WINDOW_MIN_US = 500_000;
export const PSI_WINDOW_MAX_US = 10_000_000;

export type PsiParse =
  { readonly kind: "ok"; readonly trigger: PsiTrigger | null } | { readonly kind: "invalid"; readonly reason: string };

/** A bare integer is microseconds, as in the kernel's own syntax; otherwise a duration ("150ms", "1s"). */
function toMicroseconds(token: string): number | null {
  if (/^\d+$/.test(token)) return Number(token);
  const d = parseDuration(token);
  if (d.kind !== "ok") return null;
  return Math.round(d.value * 1000);
}

/** "off" (or null in YAML) disables the trigger for that resource. */
export function parsePsiTrigger(text: string): PsiParse {
  const trimmed = text.trim();
  if (trimmed === "off") return { kind: "ok", trigger: null };
  const parts = trimmed.split(/\s+/);
  if (parts.length !== 3)
    return {
      kind: "invalid",
      reason: `expected "<some|full> <stall> <window>" (e.g. "some 150ms 1s") or "off", got ${JSON.stringify(text)}`,
    };
  const [stall, thresholdText, windowText] = parts as [string, string, string];
  if (stall !== "some" && stall !== "full")
    return { kind: "invalid", reason: `stall type must be "some" or "full", got ${JSON.stringify(stall)}` };
  const thresholdUs = toMicroseconds(thresholdText);
  const windowUs = toMicroseconds(windowText);
  if (thresholdUs === null)
    return {
      kind: "invalid",
      reason: `not a duration: ${JSON.stringify(thresholdText)} (use 150ms, or microseconds as a bare integer)`,
    };
  if (windowUs === null)
    return {
      kind: "invalid",
      reason: `not a duration: ${JSON.stringify(windowText)} (use 1s, or microseconds as a bare integer)`,
    };
  if (windowUs < PSI_WINDOW_MIN_US || windowUs > PSI_WINDOW_MAX_US) {
    return { kind: "invalid", reason: `window ${windowText} is outside the kernel's range 500ms..10s` };
  }
  if (thresholdUs <= 0) return { kind: "invalid", reason: `stall threshold must be above 0, got ${thresholdText}` };
  if (thresholdUs > windowUs)
    return {
      kind: "invalid",
      reason: `stall threshold ${thresholdText} exceeds the window ${windowText}: the kernel rejects it`,
    };
  return { kind: "ok", trigger: { stall, thresholdUs, windowUs, kernel: `${stall} ${thresholdUs} ${windowUs}` } };
}
