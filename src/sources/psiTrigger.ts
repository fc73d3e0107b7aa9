/**
 * PSI triggers (Documentation/accounting/psi.rst): write
 * "<some|full> <stall us> <window us>" to a pressure file and the fd wakes
 * poll() with POLLPRI whenever the stall within the window exceeds the
 * threshold, at most once per window. One fd per trigger; closing it removes
 * the trigger. Works per cgroup on v2 (<cgroup>/memory.pressure, cpu.pressure,
 * io.pressure) and system-wide (/proc/pressure/<resource>).
 *
 * Triggers are validated here, before any syscall, with the kernel's own
 * rules (kernel/sched/psi.c psi_trigger_create), so a bad config says why
 * instead of a bare EINVAL.
 */
import fs from "node:fs";
import path from "node:path";
import { requireRegularFile } from "../cgroup/safeOpen.js";
import { Observable, map } from "rxjs";
import type { PressureResource } from "../events/types.js";
import { NativeSourceError, nativeFdTicks, type FdSourceOptions } from "./eventfd.js";
import { cgroupGone } from "./v1Notifications.js";
import type { Wake } from "./types.js";

export const PSI_WINDOW_MIN_US = 500_000;
export const PSI_WINDOW_MAX_US = 10_000_000;
/** Without CAP_SYS_RESOURCE the kernel (6.5+) only accepts windows that are multiples of 2 s. */
export const PSI_UNPRIVILEGED_WINDOW_STEP_US = 2_000_000;

export interface PsiTrigger {
  readonly type: "some" | "full";
  readonly stallUs: number;
  readonly windowUs: number;
}

export type PsiTriggerCheck =
  | { readonly kind: "valid"; readonly trigger: PsiTrigger; readonly text: string }
  | { readonly kind: "invalid"; readonly reason: string };

export interface PsiTriggerRules {
  /** The process has CAP_SYS_RESOURCE (default true: the kernel's base rules only). */
  readonly privileged?: boolean;
}

/** The text written to the kernel. */
export function formatPsiTrigger(t: PsiTrigger): string {
  return `${t.type} ${t.stallUs} ${t.windowUs}`;
}

/** Checks a trigger the way the kernel will; pure. */
export function checkPsiTrigger(t: PsiTrigger, rules: PsiTriggerRules = {}): PsiTriggerCheck {
  const text = formatPsiTrigger(t);
  const bad = (why: string): PsiTriggerCheck => ({ kind: "invalid", reason: `PSI trigger "${text}": ${why}` });
  if (t.type !== "some" && t.type !== "full") return bad(`type must be "some" or "full"`);
  if (!Number.isSafeInteger(t.windowUs) || !Number.isSafeInteger(t.stallUs))
    return bad("stall and window must be whole microseconds");
  if (t.windowUs < PSI_WINDOW_MIN_US || t.windowUs > PSI_WINDOW_MAX_US) {
    return bad(`window must be within ${PSI_WINDOW_MIN_US}..${PSI_WINDOW_MAX_US} us (500 ms..10 s), got ${t.windowUs}`);
  }
  if (t.stallUs <= 0 || t.stallUs > t.windowUs)
    return bad(`stall must be > 0 and <= the window (${t.windowUs} us), got ${t.stallUs}`);
  if (rules.privileged === false && t.windowUs % PSI_UNPRIVILEGED_WINDOW_STEP_US !== 0) {
    return bad(`without CAP_SYS_RESOURCE the kernel only accepts windows that are multiples of 2 s (2000000 us)`);
  }
  return { kind: "valid", trigger: t, text };
}

/** Parses and checks "some 150000 1000000" (extra whitespace tolerated). */
export function parsePsiTrigger(text: string, rules: PsiTriggerRules = {}): PsiTriggerCheck {
  const m = /^\s*(some|full)\s+(\d+)\s+(\d+)\s*$/.exec(text);
  if (m === null)
    return {
      kind: "invalid",
      reason: `PSI trigger ${JSON.stringify(text)}: expected "<some|full> <stall us> <window us>"`,
    };
  const [, type, stall, window] = m;
  return checkPsiTrigger(
    { type: type === "full" ? "full" : "some", stallUs: Number(stall), windowUs: Number(window) },
    rules,
  );
}

/** Whether a /proc/<pid>/status text shows CAP_SYS_RESOURCE (bit 24) in CapEff. */
export function hasCapSysResource(statusText: string): boolean {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  if (m === null || m[1] === undefined) return false;
  return (BigInt(`0x${m[1]}`) & (1n << 24n)) !== 0n;
}

export function processHasCapSysResource(): boolean {
  try {
    return hasCapSysResource(fs.readFileSync("/proc/self/status", "utf8"));
  } catch {
    return false;
  }
}

export interface PsiTriggerOptions extends FdSourceOptions {
  /** The cgroup directory in the v2 hierarchy, or "/proc/pressure" for system-wide (with `file`). */
  readonly dir: string;
  readonly cgroup: string;
  readonly resource: PressureResource;
  /** e.g. "some 150000 1000000". */
  readonly trigger: string;
  /** Pressure file name inside dir; default "<resource>.pressure" ("memory" etc. under /proc/pressure). */
  readonly file?: string;
  /** Defaults to this process's CapEff. */
  readonly privileged?: boolean;
}

/**
 * Wakes while the stall exceeds the trigger. When the cgroup is removed the
 * kernel reports POLLERR (6.1 with POLLPRI, which the addon checks for): the
 * Observable completes (fd closed). An invalid
 * trigger or a kernel refusal arrives as a NativeSourceError.
 */
export function psiTriggerWakes(options: PsiTriggerOptions): Observable<Wake> {
  const check = parsePsiTrigger(options.trigger, { privileged: options.privileged ?? processHasCapSysResource() });
  if (check.kind === "invalid")
    return new Observable<Wake>((s) => s.error(new NativeSourceError("invalid_argument", check.reason)));
  const file = path.join(options.dir, options.file ?? `${options.resource}.pressure`);
  const text = check.text;
  // POLLERR on a trigger fd means its pressure file is gone: the cgroup is
  // being removed (6.1 wakes the trigger during rmdir). That is an end, not a failure.
  return nativeFdTicks(
    `PSI trigger "${text}" on ${file}`,
    1,
    (native) => {
      requireRegularFile(file);
      return native.openPsiTrigger(file, text);
    },
    options,
    () => (cgroupGone(options.dir) || !fs.existsSync(file) ? "complete" : "error"),
  ).pipe(
    map((t): Wake => ({
      kind: "psi_trigger",
      cgroup: options.cgroup,
      resource: options.resource,
      trigger: text,
      at: t.at,
    })),
  );
}
