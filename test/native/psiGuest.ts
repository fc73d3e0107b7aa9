/**
 * PSI trigger checks that need a kernel with per-cgroup PSI (cgroup v2).
 * This host has no v2 memory controller, so the v2 VM tier calls these in
 * the guest (compiled: dist/test/native/psiGuest.js); the host suite runs
 * the first one against system-wide /proc/pressure so the same code path is
 * exercised on every run. Neither throws: each returns a kind-tagged result
 * the caller asserts on.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import type { PressureResource } from "../../src/events/types.js";
import { psiTriggerWakes } from "../../src/sources/psiTrigger.js";
import type { Wake } from "../../src/sources/types.js";

export interface PsiGuestCheckOptions {
  /** v2 cgroup directory (e.g. /sys/fs/cgroup/cgwatch-psi), or "/proc/pressure" with `file`. */
  readonly dir: string;
  readonly cgroup: string;
  readonly resource: PressureResource;
  /** e.g. "some 100000 2000000" (2 s windows work with or without CAP_SYS_RESOURCE). */
  readonly trigger: string;
  /** "cpu" etc. under /proc/pressure; default "<resource>.pressure". */
  readonly file?: string;
  /** Starts the load (e.g. a hog inside the cgroup); it is SIGKILLed when the check ends. */
  readonly startLoad: () => ChildProcess | ChildProcess[];
  /** Safety net only. */
  readonly timeoutMs?: number;
}

export type PsiGuestResult =
  | { readonly kind: "fired"; readonly wake: Wake; readonly fdsClosed: boolean }
  | { readonly kind: "timeout"; readonly fdsClosed: boolean }
  | { readonly kind: "error"; readonly message: string; readonly fdsClosed: boolean };

function pressureFds(path: string): number {
  let n = 0;
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

/** Opens the trigger, starts the load, resolves at the first wake (or error/timeout); always closes the fd and kills the load. */
export function psiTriggerGuestCheck(options: PsiGuestCheckOptions): Promise<PsiGuestResult> {
  const path = `${options.dir}/${options.file ?? `${options.resource}.pressure`}`;
  const before = pressureFds(path);
  return new Promise<PsiGuestResult>((resolve) => {
    let load: ChildProcess[] = [];
    const pending: { timer?: NodeJS.Timeout } = {};
    const finish = (result: (fdsClosed: boolean) => PsiGuestResult): void => {
      clearTimeout(pending.timer);
      sub.unsubscribe();
      for (const c of load) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      resolve(result(pressureFds(path) === before));
    };
    let done = false;
    const once = (result: (fdsClosed: boolean) => PsiGuestResult): void => {
      if (done) return;
      done = true;
      // Subscription may still be being set up when the first value arrives synchronously: defer.
      queueMicrotask(() => finish(result));
    };
    const sub = psiTriggerWakes({ ...options }).subscribe({
      next: (wake) => once((fdsClosed) => ({ kind: "fired", wake, fdsClosed })),
      error: (err: unknown) =>
        once((fdsClosed) => ({ kind: "error", message: err instanceof Error ? err.message : String(err), fdsClosed })),
      complete: () =>
        once((fdsClosed) => ({ kind: "error", message: "the trigger source completed (cgroup removed?)", fdsClosed })),
    });
    if (done) return;
    const started = options.startLoad();
    load = Array.isArray(started) ? started : [started];
    pending.timer = setTimeout(
      () => once((fdsClosed) => ({ kind: "timeout", fdsClosed })),
      options.timeoutMs ?? 20_000,
    );
  });
}

export type PsiRemovalResult =
  | { readonly kind: "completed"; readonly fdsClosed: boolean }
  | { readonly kind: "not_completed"; readonly detail: string };

/**
 * With a trigger open on an (empty) v2 cgroup, removes the cgroup: the
 * kernel reports POLLERR and the source must complete, closing its fd, with
 * no wake. `dir` must be a removable, empty cgroup.
 */
export function psiRemovalGuestCheck(
  dir: string,
  resource: PressureResource = "memory",
  timeoutMs = 10_000,
): Promise<PsiRemovalResult> {
  const path = `${dir}/${resource}.pressure`;
  return new Promise<PsiRemovalResult>((resolve) => {
    const wakes: Wake[] = [];
    let timer: NodeJS.Timeout | undefined = undefined;
    const sub = psiTriggerWakes({ dir, cgroup: dir, resource, trigger: "some 100000 2000000" }).subscribe({
      next: (w) => wakes.push(w),
      error: (err: unknown) => {
        clearTimeout(timer);
        resolve({ kind: "not_completed", detail: `errored: ${err instanceof Error ? err.message : String(err)}` });
      },
      complete: () => {
        clearTimeout(timer);
        // RxJS runs the teardown (closing the fd) right after this callback returns.
        queueMicrotask(() =>
          resolve(
            wakes.length === 0
              ? { kind: "completed", fdsClosed: pressureFds(path) === 0 }
              : { kind: "not_completed", detail: `${wakes.length} wake(s) before completion` },
          ),
        );
      },
    });
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      sub.unsubscribe();
      resolve({ kind: "not_completed", detail: `rmdir failed: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    timer = setTimeout(() => {
      sub.unsubscribe();
      resolve({ kind: "not_completed", detail: "no POLLERR within the timeout" });
    }, timeoutMs);
  });
}
