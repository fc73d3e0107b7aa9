/** cpu.cfs_burst_us (v1) / cpu.max.burst (v2): at most the quota, so it needs one. */
import { ACTION_LIMITS } from "../limits.js";
import { integerIn } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { cpu, cpuMaxOf, exists, limitOf, missing, planOf, unsupported, write } from "./planKit.js";
import { cpuBandwidthReads } from "./setCpuQuota.js";

export type SetCpuBurst = { readonly kind: "set_cpu_burst"; readonly burstUs: number };

export const setCpuBurst: ActionKindDef<SetCpuBurst> = {
  kind: "set_cpu_burst",
  fields: { burstUs: { check: integerIn(ACTION_LIMITS.cpuBurstUs), type: "number" } },
  scope: "cpu",
  writes: { 1: [cpu("cpu.cfs_burst_us")], 2: [cpu("cpu.max.burst")] },
  reads: (_action, version) => cpuBandwidthReads(version),
  plan(action, version, current) {
    const v1 = version === 1;
    const burstFile = v1 ? "cpu.cfs_burst_us" : "cpu.max.burst";
    if (!exists(current, burstFile)) return missing(burstFile, "this kernel has no CFS burst (Linux >= 5.14)");
    const quota = v1 ? limitOf(current, "cpu.cfs_quota_us") : cpuMaxOf(current)?.quotaUs;
    if (quota === undefined) return missing(v1 ? "cpu.cfs_quota_us" : "cpu.max", "is this a cpu cgroup?");
    // The kernel refuses burst > quota (EINVAL); say why instead.
    if (action.burstUs > 0 && quota === null) return unsupported("a CPU burst needs a quota: this cgroup has none");
    if (quota !== null && action.burstUs > quota)
      return unsupported(`burst ${action.burstUs}us exceeds the quota ${quota}us (kernel requires burst <= quota)`);
    return planOf(version, [write("cpu", burstFile, String(action.burstUs), { kind: "exact" })]);
  },
};
