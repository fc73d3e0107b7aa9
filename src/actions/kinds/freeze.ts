/** Freeze every process of the cgroup: v1 freezer.state, v2 cgroup.freeze (a core file, no controller). */
import type { CgroupVersion } from "../../cgroup/layout.js";
import type { Current, FileAddr, Plan, Unsupported } from "../plan.js";
import type { ActionKindDef } from "./kind.js";
import { exists, missing, planOf, write } from "./planKit.js";

export type Freeze = { readonly kind: "freeze" };

export const FREEZER_FILES: { readonly 1: readonly FileAddr[]; readonly 2: readonly FileAddr[] } = {
  1: [{ scope: "freezer", file: "freezer.state" }],
  2: [{ scope: "v2_core", file: "cgroup.freeze" }],
};

/** The plan of freeze and thaw. */
export function planFreezer(freeze: boolean, version: CgroupVersion, current: Current): Plan | Unsupported {
  if (version === 1) {
    if (!exists(current, "freezer.state"))
      return missing("freezer.state", "the root cgroup cannot be frozen; is this a freezer cgroup?");
    // Reading back may show FREEZING while tasks are still being stopped: reported, not failed.
    return planOf(version, [write("freezer", "freezer.state", freeze ? "FROZEN" : "THAWED", { kind: "exact" })]);
  }
  if (!exists(current, "cgroup.freeze")) return missing("cgroup.freeze", "kernel older than 5.2, or the root cgroup");
  return planOf(version, [write("v2_core", "cgroup.freeze", freeze ? "1" : "0", { kind: "exact" })]);
}

export const freeze: ActionKindDef<Freeze> = {
  kind: "freeze",
  fields: {},
  scope: "freezer",
  writes: FREEZER_FILES,
  reads: (_action, version) => FREEZER_FILES[version],
  plan: (_action, version, current) => planFreezer(true, version, current),
};
