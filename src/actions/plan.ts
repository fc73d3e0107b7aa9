/**
 * Action → file writes, per cgroup version: the vocabulary of plans (file
 * addresses, steps, read-back checks, effects) and the dispatch to each
 * kind's module in `kinds/`. Pure: `readsFor` says which files the plan
 * needs to see, the executor reads them, and `planAction` turns the action
 * plus those current values into ordered steps (or a rejection with the
 * reason). Order is the whole point for some knobs: v1 memsw must stay >=
 * the memory limit after every single write, and a CFS quota must stay >=
 * its burst. The plan also states the action's semantic effect (bytes
 * from → to, cores from → to) for the guardrails.
 */
import type { CgroupVersion, Controller } from "../cgroup/layout.js";
import { parseCpuMax, parseFlatKeyed, parseLimit } from "../cgroup/parse.js";
import { ACTION_REGISTRY } from "./kinds/index.js";
import type { Action } from "./types.js";

export { sharesToWeight } from "./kinds/setCpuShares.js";
export { blkioWeightToIoWeight } from "./kinds/setIoWeight.js";

/** A control file of the action's cgroup: in a controller's hierarchy, or a v2 core file (cgroup.freeze, cgroup.kill). */
export interface FileAddr {
  readonly scope: Controller | "v2_core";
  readonly file: string;
}

/** How to confirm a write by reading the file back. */
export type Verify =
  /** Byte/limit values: "-1", "max" and v1's near-2^63 all mean unlimited. */
  | { readonly kind: "limit" }
  | { readonly kind: "exact" }
  | { readonly kind: "cpu_max" }
  /** Flat-keyed file (memory.oom_control, io.weight "default N"): one key must read `expect`. */
  | { readonly kind: "key"; readonly key: string; readonly expect: string }
  /** Per-device files (blkio.throttle.*, io.max): the device's line must carry these tokens; all-unlimited means no line. */
  | {
      readonly kind: "device_line";
      readonly device: string;
      readonly expect: readonly string[];
      readonly unlimited: boolean;
    }
  /** Write-only knobs (cgroup.kill). */
  | { readonly kind: "none" };

export type Step =
  | {
      readonly kind: "write";
      readonly at: FileAddr;
      readonly value: string;
      readonly verify: Verify;
      readonly why?: string;
    }
  /** Write oom_score_adj of every pid in cgroup.procs (tolerating pids that exit meanwhile). */
  | { readonly kind: "oom_score_adj_all"; readonly value: number }
  /** v1 kill: SIGKILL every pid in cgroup.procs. */
  | { readonly kind: "signal_all"; readonly signal: "SIGKILL" }
  /** annotate: nothing to write. */
  | { readonly kind: "record" };

/** What the action means, for guardrails. Bytes/cores null = unlimited. */
export type Effect =
  | {
      readonly kind: "memory";
      readonly field: "limit" | "high" | "reservation";
      readonly from: number | null;
      readonly to: number | null;
      readonly usage: number | null;
      readonly allowBelowUsage: boolean;
    }
  | { readonly kind: "cpu_quota"; readonly fromCores: number | null; readonly toCores: number | null }
  | { readonly kind: "none" };

export interface Plan {
  readonly kind: "plan";
  readonly version: CgroupVersion;
  readonly steps: readonly Step[];
  readonly effect: Effect;
}

export interface Unsupported {
  readonly kind: "unsupported";
  readonly reason: string;
}

/** Current file contents by file name; null = the file does not exist on this kernel. */
export type Current = ReadonlyMap<string, string | null>;

/** Which hierarchy an action lives in (kill and oom_score_adj act on processes; their cgroup.procs is found by the executor). */
export function controllerFor(action: Action): Controller | "procs" | "none" {
  return ACTION_REGISTRY.scopeOf(action);
}

/** Files the planner needs to see (the ones it writes, plus usage / sibling knobs that decide order). */
export function readsFor(action: Action, version: CgroupVersion): readonly FileAddr[] {
  return ACTION_REGISTRY.readsFor(action, version);
}

/** Turns an action plus current values into ordered steps. Assumes `validateAction` passed. */
export function planAction(action: Action, version: CgroupVersion, current: Current): Plan | Unsupported {
  return ACTION_REGISTRY.plan(action, version, current);
}

/** Does the read-back confirm the write? */
export function confirms(verify: Verify, written: string, readBack: string): boolean {
  switch (verify.kind) {
    case "none":
      return true;
    case "exact":
      return readBack.trim() === written.trim();
    case "limit": {
      const a = parseLimit(written);
      const b = parseLimit(readBack);
      return a.kind === "ok" && b.kind === "ok" && a.value === b.value;
    }
    case "cpu_max": {
      const a = parseCpuMax(written);
      const b = parseCpuMax(readBack);
      return (
        a.kind === "ok" &&
        b.kind === "ok" &&
        a.value.quotaUs === b.value.quotaUs &&
        a.value.periodUs === b.value.periodUs
      );
    }
    case "key": {
      const v = parseFlatKeyed(readBack).values.get(verify.key);
      return v !== undefined && String(v) === verify.expect;
    }
    case "device_line": {
      const line = readBack.split("\n").find((l) => l.trim().split(/\s+/)[0] === verify.device);
      if (line === undefined) return verify.unlimited;
      const tokens = line.trim().split(/\s+/).slice(1);
      return verify.expect.every((t) => tokens.includes(t));
    }
  }
}
