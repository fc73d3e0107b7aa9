/** `--cpuset-cpus` / `--cpuset-mems`: same files on both versions. */
import type { FileAddr, Step } from "../plan.js";
import { cpuList } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { exists, missing, planOf, write } from "./planKit.js";

export type SetCpuset = { readonly kind: "set_cpuset"; readonly cpus?: string; readonly mems?: string };

const CPUS: FileAddr = { scope: "cpuset", file: "cpuset.cpus" };
const MEMS: FileAddr = { scope: "cpuset", file: "cpuset.mems" };

export const setCpuset: ActionKindDef<SetCpuset> = {
  kind: "set_cpuset",
  fields: {
    cpus: { check: cpuList, type: "string", optional: true },
    mems: { check: cpuList, type: "string", optional: true },
  },
  needsOneOptional: true,
  scope: "cpuset",
  writes: { 1: [CPUS, MEMS], 2: [CPUS, MEMS] },
  reads: (action) => [...(action.cpus !== undefined ? [CPUS] : []), ...(action.mems !== undefined ? [MEMS] : [])],
  plan(action, version, current) {
    const steps: Step[] = [];
    // mems before cpus mirrors runc; the two are independent in the kernel.
    if (action.mems !== undefined) {
      if (!exists(current, "cpuset.mems"))
        return missing("cpuset.mems", "is the cpuset controller enabled for this cgroup?");
      steps.push(write("cpuset", "cpuset.mems", action.mems, { kind: "exact" }));
    }
    if (action.cpus !== undefined) {
      if (!exists(current, "cpuset.cpus"))
        return missing("cpuset.cpus", "is the cpuset controller enabled for this cgroup?");
      steps.push(write("cpuset", "cpuset.cpus", action.cpus, { kind: "exact" }));
    }
    return planOf(version, steps);
  },
};
