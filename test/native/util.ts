/**
 * Shared bits of the native/eventfd tests: fd accounting through /proc/self/fd,
 * a bounded wait, and a local memory.oom_control reader (the lead's parser
 * in src/cgroup/parse.ts was not there yet when these tests were written).
 */
import fs from "node:fs";
import path from "node:path";
import type { Observable, Subscription } from "rxjs";
import { describe, it } from "vitest";
import { loadNative, type CgwatchNative } from "../../src/native/index.js";

/** Targets of this process's open fds, e.g. "anon_inode:[eventfd]", "/proc/pressure/cpu". */
export function openFdTargets(): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      out.push(fs.readlinkSync(path.join("/proc/self/fd", fd)));
    } catch {
      /* the fd readdir itself used, closed already */
    }
  }
  return out;
}

export function countFds(match: (target: string) => boolean): number {
  return openFdTargets().filter(match).length;
}

export const isEventfd = (t: string): boolean => t === "anon_inode:[eventfd]";

/** Resolves once `predicate` holds; rejects after `timeoutMs` (a safety net, not a measurement). */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface OomControl {
  readonly oomKillDisable: number;
  readonly underOom: number;
  readonly oomKill: number;
}

export function readOomControl(dir: string): OomControl {
  const kv = new Map<string, number>();
  for (const line of fs.readFileSync(path.join(dir, "memory.oom_control"), "utf8").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) kv.set(k, Number(v));
  }
  return {
    oomKillDisable: kv.get("oom_kill_disable") ?? -1,
    underOom: kv.get("under_oom") ?? -1,
    oomKill: kv.get("oom_kill") ?? 0,
  };
}

/** Subscribes and records values, the error and completion. */
export function record<T>(source: Observable<T>): {
  values: T[];
  error: unknown;
  completed: boolean;
  sub: Subscription;
} {
  const rec: { values: T[]; error: unknown; completed: boolean; sub: Subscription } = {
    values: [],
    error: undefined,
    completed: false,
    sub: undefined as unknown as Subscription,
  };
  rec.sub = source.subscribe({
    next: (v) => rec.values.push(v),
    error: (e: unknown) => {
      rec.error = e;
    },
    complete: () => {
      rec.completed = true;
    },
  });
  return rec;
}

/** State letter of /proc/<pid>/stat (R, S, D, Z, ...), or null once the process is gone. */
export function procState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * describe() for suites that need the built addon: skips loudly without it
 * locally, fails in CI (where `npm ci` builds it).
 */
export function describeNative(name: string, body: () => void): void {
  const load = loadNative();
  if (load.kind === "loaded") describe(`[native] ${name}`, body);
  else if (process.env["CI"] === "true")
    describe(`[native] ${name}`, () => {
      it("addon present", () => {
        throw new Error(`native addon unavailable in CI: ${load.reason}`);
      });
    });
  else describe.skip(`[native, SKIPPED: ${load.reason}] ${name}`, body);
}

/** The loaded addon (call only inside describeNative). */
export function native(): CgwatchNative {
  const load = loadNative();
  if (load.kind !== "loaded") throw new Error(load.reason);
  return load.native;
}
