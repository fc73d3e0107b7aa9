/** `--cpu-quota`/`--cpu-period`: cpu.cfs_quota_us + cpu.cfs_period_us (v1) / cpu.max (v2). */
import type { CgroupVersion } from "../../cgroup/layout.js";
import { ACTION_LIMITS } from "../limits.js";
import type { Current, FileAddr, Plan, Step, Unsupported } from "../plan.js";
import { integerIn } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { cpu, cpuMaxOf, intOf, limitOf, missing, planOf, write } from "./planKit.js";

export type SetCpuQuota = {
  readonly kind: "set_cpu_quota";
  readonly quotaUs: number | "max";
  readonly periodUs?: number;
};

/** CFS bandwidth files: quota, period and burst decide each other's order, so quota and burst plans read them all. */
export function cpuBandwidthReads(version: CgroupVersion): readonly FileAddr[] {
  return version === 1
    ? [cpu("cpu.cfs_quota_us"), cpu("cpu.cfs_period_us"), cpu("cpu.cfs_burst_us")]
    : [cpu("cpu.max"), cpu("cpu.max.burst")];
}

const cores = (quota: number | null, period: number): number | null => (quota === null ? null : quota / period);

/** A burst above the new quota is lowered first: the kernel requires burst <= quota. */
function lowerBurst(file: string, burst: number | undefined, newQ: number | null): Step[] {
  if (newQ === null || burst === undefined || burst <= newQ) return [];
  return [
    write(
      "cpu",
      file,
      String(newQ),
      { kind: "exact" },
      `burst ${burst}us lowered to the new quota: kernel requires burst <= quota`,
    ),
  ];
}

/**
 * v1: quota and period are separate files, and each write is checked by the
 * kernel against the other's current value (quota/period may not exceed
 * the parent's ratio; burst <= quota). Of the two orders, take the one whose
 * intermediate state has the lower quota/period ratio, so a shrinking period
 * is not written while the old, larger quota still applies (runc retries
 * for the same reason).
 */
function planV1(action: SetCpuQuota, current: Current): Plan | Unsupported {
  const oldQ = limitOf(current, "cpu.cfs_quota_us");
  const oldP = intOf(current, "cpu.cfs_period_us");
  if (oldQ === undefined || oldP === undefined)
    return missing("cpu.cfs_quota_us", "is this a cpu cgroup (CONFIG_CFS_BANDWIDTH)?");
  const newQ = action.quotaUs === "max" ? null : action.quotaUs;
  const newP = action.periodUs ?? oldP;
  const steps = lowerBurst("cpu.cfs_burst_us", intOf(current, "cpu.cfs_burst_us"), newQ);
  const quotaStep = write("cpu", "cpu.cfs_quota_us", newQ === null ? "-1" : String(newQ));
  if (newP === oldP) {
    steps.push(quotaStep);
  } else {
    const periodStep = write("cpu", "cpu.cfs_period_us", String(newP), { kind: "exact" });
    const periodFirst = oldQ === null ? Infinity : oldQ / newP;
    const quotaFirst = newQ === null ? Infinity : newQ / oldP;
    steps.push(...(quotaFirst < periodFirst ? [quotaStep, periodStep] : [periodStep, quotaStep]));
  }
  return planOf(1, steps, { kind: "cpu_quota", fromCores: cores(oldQ, oldP), toCores: cores(newQ, newP) });
}

/** v2: one write of "quota period" to cpu.max; only the burst may have to move first. */
function planV2(action: SetCpuQuota, current: Current): Plan | Unsupported {
  const old = cpuMaxOf(current);
  if (old === undefined) return missing("cpu.max", "is the cpu controller enabled for this cgroup?");
  const newQ = action.quotaUs === "max" ? null : action.quotaUs;
  const newP = action.periodUs ?? old.periodUs;
  const steps = lowerBurst("cpu.max.burst", intOf(current, "cpu.max.burst"), newQ);
  steps.push(write("cpu", "cpu.max", `${newQ === null ? "max" : newQ} ${newP}`, { kind: "cpu_max" }));
  return planOf(2, steps, {
    kind: "cpu_quota",
    fromCores: cores(old.quotaUs, old.periodUs),
    toCores: cores(newQ, newP),
  });
}

export const setCpuQuota: ActionKindDef<SetCpuQuota> = {
  kind: "set_cpu_quota",
  fields: {
    quotaUs: { check: integerIn(ACTION_LIMITS.cpuQuotaUs, true), type: 'number | "max"' },
    periodUs: { check: integerIn(ACTION_LIMITS.cpuPeriodUs), type: "number", optional: true },
  },
  scope: "cpu",
  writes: {
    1: [cpu("cpu.cfs_burst_us"), cpu("cpu.cfs_quota_us"), cpu("cpu.cfs_period_us")],
    2: [cpu("cpu.max.burst"), cpu("cpu.max")],
  },
  reads: (_action, version) => cpuBandwidthReads(version),
  plan: (action, version, current) => (version === 1 ? planV1(action, current) : planV2(action, current)),
};
