/**
 * Action → file writes, per cgroup version. Pure: `readsFor` says which
 * files the plan needs to see, the executor reads them, and `planAction`
 * turns the action plus those current values into ordered steps (or a
 * rejection with the reason). Order is the whole point for some knobs:
 * v1 memsw must stay >= the memory limit after every single write, and a
 * CFS quota must stay >= its burst. The plan also states the action's
 * semantic effect (bytes from → to, cores from → to) for the guardrails.
 */
import type { CgroupVersion, Controller } from "../cgroup/layout.js";
import { parseCpuMax, parseFlatKeyed, parseInteger, parseLimit } from "../cgroup/parse.js";
import type { Action } from "./types.js";

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
  | { readonly kind: "device_line"; readonly device: string; readonly expect: readonly string[]; readonly unlimited: boolean }
  /** Write-only knobs (cgroup.kill). */
  | { readonly kind: "none" };

export type Step =
  | { readonly kind: "write"; readonly at: FileAddr; readonly value: string; readonly verify: Verify; readonly why?: string }
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
  switch (action.kind) {
    case "set_memory_limit":
    case "set_swap_limit":
    case "set_memory_reservation":
    case "set_memory_high":
    case "set_swappiness":
    case "set_oom_kill_disable":
    case "set_oom_group":
      return "memory";
    case "set_cpu_quota":
    case "set_cpu_burst":
    case "set_cpu_shares":
      return "cpu";
    case "set_cpuset":
      return "cpuset";
    case "set_pids_max":
      return "pids";
    case "set_io_weight":
    case "set_io_throttle":
      return "blkio";
    case "freeze":
    case "thaw":
      return "freezer";
    case "set_oom_score_adj":
    case "kill":
      return "procs";
    case "annotate":
      return "none";
  }
}

const mem = (file: string): FileAddr => ({ scope: "memory", file });
const cpu = (file: string): FileAddr => ({ scope: "cpu", file });

const V1_THROTTLE_FILES = {
  readBps: "blkio.throttle.read_bps_device",
  writeBps: "blkio.throttle.write_bps_device",
  readIops: "blkio.throttle.read_iops_device",
  writeIops: "blkio.throttle.write_iops_device",
} as const;
const V2_IO_KEYS = { readBps: "rbps", writeBps: "wbps", readIops: "riops", writeIops: "wiops" } as const;

/** Files the planner needs to see (the ones it writes, plus usage / sibling knobs that decide order). */
export function readsFor(action: Action, version: CgroupVersion): readonly FileAddr[] {
  const v1 = version === 1;
  switch (action.kind) {
    case "set_memory_limit":
      return v1 ? [mem("memory.limit_in_bytes"), mem("memory.memsw.limit_in_bytes"), mem("memory.usage_in_bytes")] : [mem("memory.max"), mem("memory.current")];
    case "set_swap_limit":
      return v1 ? [mem("memory.limit_in_bytes"), mem("memory.memsw.limit_in_bytes")] : [mem("memory.swap.max")];
    case "set_memory_reservation":
      return [mem(v1 ? "memory.soft_limit_in_bytes" : "memory.low")];
    case "set_memory_high":
      return v1 ? [] : [mem("memory.high"), mem("memory.current")];
    case "set_swappiness":
      return v1 ? [mem("memory.swappiness")] : [];
    case "set_oom_kill_disable":
      return v1 ? [mem("memory.oom_control")] : [];
    case "set_oom_group":
      return v1 ? [] : [mem("memory.oom.group")];
    case "set_cpu_quota":
    case "set_cpu_burst":
      return v1 ? [cpu("cpu.cfs_quota_us"), cpu("cpu.cfs_period_us"), cpu("cpu.cfs_burst_us")] : [cpu("cpu.max"), cpu("cpu.max.burst")];
    case "set_cpu_shares":
      return [cpu(v1 ? "cpu.shares" : "cpu.weight")];
    case "set_cpuset":
      return [
        ...(action.cpus !== undefined ? [{ scope: "cpuset", file: "cpuset.cpus" } as const] : []),
        ...(action.mems !== undefined ? [{ scope: "cpuset", file: "cpuset.mems" } as const] : []),
      ];
    case "set_pids_max":
      return [{ scope: "pids", file: "pids.max" }];
    case "set_io_weight":
      return v1 ? [{ scope: "blkio", file: "blkio.weight" }, { scope: "blkio", file: "blkio.bfq.weight" }] : [{ scope: "io", file: "io.weight" }];
    case "set_io_throttle":
      if (!v1) return [{ scope: "io", file: "io.max" }];
      return (Object.keys(V1_THROTTLE_FILES) as (keyof typeof V1_THROTTLE_FILES)[])
        .filter((k) => action[k] !== undefined)
        .map((k) => ({ scope: "blkio", file: V1_THROTTLE_FILES[k] }));
    case "freeze":
    case "thaw":
      return v1 ? [{ scope: "freezer", file: "freezer.state" }] : [{ scope: "v2_core", file: "cgroup.freeze" }];
    case "set_oom_score_adj":
    case "kill":
    case "annotate":
      return [];
  }
}

/** runc's conversion of cpu.shares (2..262144) to cpu.weight (1..10000). */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** runc's conversion of blkio.weight (10..1000) to io.weight (1..10000). */
export function blkioWeightToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

const unsupported = (reason: string): Unsupported => ({ kind: "unsupported", reason });

/** A limit file's value: number, null = unlimited, undefined = absent or unparsable. */
function limitOf(current: Current, file: string): number | null | undefined {
  const text = current.get(file);
  if (text === undefined || text === null) return undefined;
  const p = parseLimit(text);
  return p.kind === "ok" ? p.value : undefined;
}

function intOf(current: Current, file: string): number | undefined {
  const text = current.get(file);
  if (text === undefined || text === null) return undefined;
  const p = parseInteger(text);
  return p.kind === "ok" ? p.value : undefined;
}

const exists = (current: Current, file: string): boolean => typeof current.get(file) === "string";

const toBytes = (b: number | "max"): number | null => (b === "max" ? null : b);
/** v1 memory files take -1 for unlimited; v2 takes "max". */
const v1Bytes = (b: number | null): string => (b === null ? "-1" : String(b));
const v2Bytes = (b: number | null): string => (b === null ? "max" : String(b));
/** Compare limits with null = +∞. */
const lt = (a: number | null, b: number | null): boolean => (a === null ? false : b === null ? true : a < b);

function write(scope: FileAddr["scope"], file: string, value: string, verify: Verify = { kind: "limit" }, why?: string): Step {
  return why === undefined ? { kind: "write", at: { scope, file }, value, verify } : { kind: "write", at: { scope, file }, value, verify, why };
}

function missing(file: string, what: string): Unsupported {
  return unsupported(`${file} does not exist here: ${what}`);
}

/** Turns an action plus current values into ordered steps. Assumes `validateAction` passed. */
export function planAction(action: Action, version: CgroupVersion, current: Current): Plan | Unsupported {
  const v1 = version === 1;
  const plan = (steps: readonly Step[], effect: Effect = { kind: "none" }): Plan => ({ kind: "plan", version, steps, effect });
  switch (action.kind) {
    case "set_memory_limit": {
      const to = toBytes(action.bytes);
      const allowBelowUsage = action.allowBelowUsage === true;
      if (!v1) {
        const from = limitOf(current, "memory.max");
        if (from === undefined) return missing("memory.max", "is the memory controller enabled for this cgroup?");
        return plan([write("memory", "memory.max", v2Bytes(to))], { kind: "memory", field: "limit", from, to, usage: intOf(current, "memory.current") ?? null, allowBelowUsage });
      }
      const from = limitOf(current, "memory.limit_in_bytes");
      if (from === undefined) return missing("memory.limit_in_bytes", "is this a memory cgroup?");
      const effect: Effect = { kind: "memory", field: "limit", from, to, usage: intOf(current, "memory.usage_in_bytes") ?? null, allowBelowUsage };
      const limitStep = write("memory", "memory.limit_in_bytes", v1Bytes(to));
      const memsw = limitOf(current, "memory.memsw.limit_in_bytes");
      // No swap accounting, or memsw unlimited: the limit alone moves.
      if (memsw === undefined || memsw === null) return plan([limitStep], effect);
      // Keep the swap allowance (memsw - limit) the cgroup had; an unlimited
      // limit makes memsw unlimited too (memsw >= limit).
      const swap = from === null ? 0 : Math.max(0, memsw - from);
      const newMemsw = to === null ? null : to + swap;
      const memswStep = write("memory", "memory.memsw.limit_in_bytes", v1Bytes(newMemsw), { kind: "limit" }, "memsw >= limit at every step");
      // memsw >= limit is checked by the kernel on every write (EINVAL):
      // raising moves memsw first, lowering moves the limit first.
      return plan(lt(from, to) ? [memswStep, limitStep] : [limitStep, memswStep], effect);
    }
    case "set_swap_limit": {
      const swap = toBytes(action.bytes);
      if (!v1) {
        if (!exists(current, "memory.swap.max")) return missing("memory.swap.max", "swap accounting is off (no swap controller or swapaccount=0)");
        return plan([write("memory", "memory.swap.max", v2Bytes(swap))]);
      }
      if (!exists(current, "memory.memsw.limit_in_bytes")) return missing("memory.memsw.limit_in_bytes", "swap accounting is off (boot with swapaccount=1)");
      const limit = limitOf(current, "memory.limit_in_bytes");
      if (limit === undefined) return missing("memory.limit_in_bytes", "is this a memory cgroup?");
      if (swap !== null && limit === null) return unsupported("cgroup v1 limits swap as memory+swap (memsw): set a memory limit first");
      return plan([write("memory", "memory.memsw.limit_in_bytes", v1Bytes(swap === null || limit === null ? null : limit + swap), { kind: "limit" }, "v1 memsw = memory limit + swap")]);
    }
    case "set_memory_reservation": {
      const file = v1 ? "memory.soft_limit_in_bytes" : "memory.low";
      const from = limitOf(current, file);
      if (from === undefined) return missing(file, "is this a memory cgroup?");
      const to = toBytes(action.bytes);
      return plan([write("memory", file, v1 ? v1Bytes(to) : v2Bytes(to))], { kind: "memory", field: "reservation", from, to, usage: null, allowBelowUsage: true });
    }
    case "set_memory_high": {
      if (v1) return unsupported("memory.high is cgroup v2 only (v1 has no throttling limit; use set_memory_reservation for the soft limit)");
      const from = limitOf(current, "memory.high");
      if (from === undefined) return missing("memory.high", "is the memory controller enabled for this cgroup?");
      const to = toBytes(action.bytes);
      return plan([write("memory", "memory.high", v2Bytes(to))], {
        kind: "memory",
        field: "high",
        from,
        to,
        usage: intOf(current, "memory.current") ?? null,
        allowBelowUsage: action.allowBelowUsage === true,
      });
    }
    case "set_swappiness":
      if (!v1) return unsupported("cgroup v2 has no per-cgroup swappiness");
      if (!exists(current, "memory.swappiness")) return missing("memory.swappiness", "is this a memory cgroup?");
      return plan([write("memory", "memory.swappiness", String(action.value), { kind: "exact" })]);
    case "set_oom_score_adj":
      return plan([{ kind: "oom_score_adj_all", value: action.value }]);
    case "set_oom_kill_disable":
      if (!v1) return unsupported("cgroup v2 has no oom_kill_disable (use set_oom_group, or raise memory.max)");
      if (!exists(current, "memory.oom_control")) return missing("memory.oom_control", "is this a memory cgroup?");
      return plan([write("memory", "memory.oom_control", action.disable ? "1" : "0", { kind: "key", key: "oom_kill_disable", expect: action.disable ? "1" : "0" })]);
    case "set_oom_group":
      if (v1) return unsupported("memory.oom.group is cgroup v2 only (v1 kills one task; use set_oom_kill_disable or kill)");
      if (!exists(current, "memory.oom.group")) return missing("memory.oom.group", "kernel older than 4.19?");
      return plan([write("memory", "memory.oom.group", action.enable ? "1" : "0", { kind: "exact" })]);
    case "set_cpu_quota":
      return v1 ? planCpuQuotaV1(action.quotaUs, action.periodUs, current, plan) : planCpuQuotaV2(action.quotaUs, action.periodUs, current, plan);
    case "set_cpu_burst": {
      const burstFile = v1 ? "cpu.cfs_burst_us" : "cpu.max.burst";
      if (!exists(current, burstFile)) return missing(burstFile, "this kernel has no CFS burst (Linux >= 5.14)");
      const quota = v1 ? limitOf(current, "cpu.cfs_quota_us") : cpuMaxOf(current)?.quotaUs;
      if (quota === undefined) return missing(v1 ? "cpu.cfs_quota_us" : "cpu.max", "is this a cpu cgroup?");
      // The kernel refuses burst > quota (EINVAL); say why instead.
      if (action.burstUs > 0 && quota === null) return unsupported("a CPU burst needs a quota: this cgroup has none");
      if (quota !== null && action.burstUs > quota) return unsupported(`burst ${action.burstUs}us exceeds the quota ${quota}us (kernel requires burst <= quota)`);
      return plan([write("cpu", burstFile, String(action.burstUs), { kind: "exact" })]);
    }
    case "set_cpu_shares":
      if (v1) return exists(current, "cpu.shares") ? plan([write("cpu", "cpu.shares", String(action.shares), { kind: "exact" })]) : missing("cpu.shares", "is this a cpu cgroup?");
      if (!exists(current, "cpu.weight")) return missing("cpu.weight", "is the cpu controller enabled for this cgroup?");
      return plan([write("cpu", "cpu.weight", String(sharesToWeight(action.shares)), { kind: "exact" }, `runc: weight = 1 + ((shares - 2) * 9999) / 262142`)]);
    case "set_cpuset": {
      const steps: Step[] = [];
      // mems before cpus mirrors runc; the two are independent in the kernel.
      if (action.mems !== undefined) {
        if (!exists(current, "cpuset.mems")) return missing("cpuset.mems", "is the cpuset controller enabled for this cgroup?");
        steps.push(write("cpuset", "cpuset.mems", action.mems, { kind: "exact" }));
      }
      if (action.cpus !== undefined) {
        if (!exists(current, "cpuset.cpus")) return missing("cpuset.cpus", "is the cpuset controller enabled for this cgroup?");
        steps.push(write("cpuset", "cpuset.cpus", action.cpus, { kind: "exact" }));
      }
      return plan(steps);
    }
    case "set_pids_max":
      if (!exists(current, "pids.max")) return missing("pids.max", "is the pids controller enabled for this cgroup?");
      return plan([write("pids", "pids.max", action.max === "max" ? "max" : String(action.max))]);
    case "set_io_weight": {
      if (!v1) {
        if (!exists(current, "io.weight")) return missing("io.weight", "no proportional io scheduler (BFQ) for this cgroup");
        const w = blkioWeightToIoWeight(action.weight);
        return plan([write("io", "io.weight", `default ${w}`, { kind: "key", key: "default", expect: String(w) }, "runc: io.weight = 1 + (blkio weight - 10) * 9999 / 990")]);
      }
      // CFQ kernels have blkio.weight, BFQ ones blkio.bfq.weight (same 10..1000 scale... BFQ accepts 1..1000).
      const file = exists(current, "blkio.weight") ? "blkio.weight" : exists(current, "blkio.bfq.weight") ? "blkio.bfq.weight" : null;
      if (file === null) return missing("blkio.weight", "no proportional io scheduler (CFQ/BFQ) on this kernel");
      return plan([write("blkio", file, String(action.weight), file === "blkio.bfq.weight" ? { kind: "key", key: "default", expect: String(action.weight) } : { kind: "exact" })]);
    }
    case "set_io_throttle": {
      const fields = (Object.keys(V2_IO_KEYS) as (keyof typeof V2_IO_KEYS)[]).filter((k) => action[k] !== undefined);
      if (v1) {
        const steps: Step[] = [];
        for (const k of fields) {
          const file = V1_THROTTLE_FILES[k];
          if (!exists(current, file)) return missing(file, "blkio throttling is not available");
          const v = action[k];
          // v1 removes a device's limit with 0.
          const value = v === "max" || v === undefined ? 0 : v;
          steps.push(write("blkio", file, `${action.device} ${value}`, { kind: "device_line", device: action.device, expect: [String(value)], unlimited: value === 0 }));
        }
        return plan(steps);
      }
      if (!exists(current, "io.max")) return missing("io.max", "is the io controller enabled for this cgroup?");
      const tokens = fields.map((k) => `${V2_IO_KEYS[k]}=${String(action[k])}`);
      const allMax = fields.every((k) => action[k] === "max");
      return plan([write("io", "io.max", `${action.device} ${tokens.join(" ")}`, { kind: "device_line", device: action.device, expect: tokens, unlimited: allMax })]);
    }
    case "freeze":
    case "thaw": {
      const freeze = action.kind === "freeze";
      if (v1) {
        if (!exists(current, "freezer.state")) return missing("freezer.state", "the root cgroup cannot be frozen; is this a freezer cgroup?");
        // Reading back may show FREEZING while tasks are still being stopped: reported, not failed.
        return plan([write("freezer", "freezer.state", freeze ? "FROZEN" : "THAWED", { kind: "exact" })]);
      }
      if (!exists(current, "cgroup.freeze")) return missing("cgroup.freeze", "kernel older than 5.2, or the root cgroup");
      return plan([write("v2_core", "cgroup.freeze", freeze ? "1" : "0", { kind: "exact" })]);
    }
    case "kill":
      return v1 ? plan([{ kind: "signal_all", signal: "SIGKILL" }]) : plan([write("v2_core", "cgroup.kill", "1", { kind: "none" })]);
    case "annotate":
      return plan([{ kind: "record" }]);
  }
}

function cpuMaxOf(current: Current): { quotaUs: number | null; periodUs: number } | undefined {
  const text = current.get("cpu.max");
  if (text === undefined || text === null) return undefined;
  const p = parseCpuMax(text);
  return p.kind === "ok" ? p.value : undefined;
}

const cores = (quota: number | null, period: number): number | null => (quota === null ? null : quota / period);

type MakePlan = (steps: readonly Step[], effect?: Effect) => Plan;

/**
 * v1: quota and period are separate files, and each write is checked by the
 * kernel against the other's current value (quota/period may not exceed
 * the parent's ratio; burst <= quota). Of the two orders, take the one whose
 * intermediate state has the lower quota/period ratio, so a shrinking period
 * is not written while the old, larger quota still applies (runc retries
 * for the same reason). A burst above the new quota is lowered first.
 */
function planCpuQuotaV1(quotaUs: number | "max", periodUs: number | undefined, current: Current, plan: MakePlan): Plan | Unsupported {
  const oldQ = limitOf(current, "cpu.cfs_quota_us");
  const oldP = intOf(current, "cpu.cfs_period_us");
  if (oldQ === undefined || oldP === undefined) return missing("cpu.cfs_quota_us", "is this a cpu cgroup (CONFIG_CFS_BANDWIDTH)?");
  const newQ = quotaUs === "max" ? null : quotaUs;
  const newP = periodUs ?? oldP;
  const steps: Step[] = [];
  const burst = intOf(current, "cpu.cfs_burst_us");
  if (newQ !== null && burst !== undefined && burst > newQ) {
    steps.push(write("cpu", "cpu.cfs_burst_us", String(newQ), { kind: "exact" }, `burst ${burst}us lowered to the new quota: kernel requires burst <= quota`));
  }
  const quotaStep = write("cpu", "cpu.cfs_quota_us", newQ === null ? "-1" : String(newQ));
  if (newP === oldP) {
    steps.push(quotaStep);
  } else {
    const periodStep = write("cpu", "cpu.cfs_period_us", String(newP), { kind: "exact" });
    const periodFirst = oldQ === null ? Infinity : oldQ / newP;
    const quotaFirst = newQ === null ? Infinity : newQ / oldP;
    steps.push(...(quotaFirst < periodFirst ? [quotaStep, periodStep] : [periodStep, quotaStep]));
  }
  return plan(steps, { kind: "cpu_quota", fromCores: cores(oldQ, oldP), toCores: cores(newQ, newP) });
}

/** v2: one write of "quota period" to cpu.max; only the burst may have to move first. */
function planCpuQuotaV2(quotaUs: number | "max", periodUs: number | undefined, current: Current, plan: MakePlan): Plan | Unsupported {
  const old = cpuMaxOf(current);
  if (old === undefined) return missing("cpu.max", "is the cpu controller enabled for this cgroup?");
  const newQ = quotaUs === "max" ? null : quotaUs;
  const newP = periodUs ?? old.periodUs;
  const steps: Step[] = [];
  const burst = intOf(current, "cpu.max.burst");
  if (newQ !== null && burst !== undefined && burst > newQ) {
    steps.push(write("cpu", "cpu.max.burst", String(newQ), { kind: "exact" }, `burst ${burst}us lowered to the new quota: kernel requires burst <= quota`));
  }
  steps.push(write("cpu", "cpu.max", `${newQ === null ? "max" : newQ} ${newP}`, { kind: "cpu_max" }));
  return plan(steps, { kind: "cpu_quota", fromCores: cores(old.quotaUs, old.periodUs), toCores: cores(newQ, newP) });
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
      return a.kind === "ok" && b.kind === "ok" && a.value.quotaUs === b.value.quotaUs && a.value.periodUs === b.value.periodUs;
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
