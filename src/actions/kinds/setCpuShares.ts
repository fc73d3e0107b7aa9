/** `--cpu-shares` (v1) / cpu.weight (v2, runc's conversion). */
import { ACTION_LIMITS } from "../limits.js";
import { integerIn } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { cpu, exists, missing, planOf, write } from "./planKit.js";

export type SetCpuShares = { readonly kind: "set_cpu_shares"; readonly shares: number };

/** runc's conversion of cpu.shares (2..262144) to cpu.weight (1..10000). */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

export const setCpuShares: ActionKindDef<SetCpuShares> = {
  kind: "set_cpu_shares",
  fields: { shares: { check: integerIn(ACTION_LIMITS.cpuShares), type: "number" } },
  scope: "cpu",
  writes: { 1: [cpu("cpu.shares")], 2: [cpu("cpu.weight")] },
  reads: (_action, version) => [cpu(version === 1 ? "cpu.shares" : "cpu.weight")],
  plan(action, version, current) {
    if (version === 1) {
      if (!exists(current, "cpu.shares")) return missing("cpu.shares", "is this a cpu cgroup?");
      return planOf(version, [write("cpu", "cpu.shares", String(action.shares), { kind: "exact" })]);
    }
    if (!exists(current, "cpu.weight")) return missing("cpu.weight", "is the cpu controller enabled for this cgroup?");
    const weight = String(sharesToWeight(action.shares));
    return planOf(version, [
      write("cpu", "cpu.weight", weight, { kind: "exact" }, `runc: weight = 1 + ((shares - 2) * 9999) / 262142`),
    ]);
  },
};
