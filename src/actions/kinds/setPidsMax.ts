/** `--pids-limit`: pids.max on both versions. */
import { ACTION_LIMITS } from "../limits.js";
import type { FileAddr } from "../plan.js";
import { integerIn } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { exists, missing, planOf, write } from "./planKit.js";

export type SetPidsMax = { readonly kind: "set_pids_max"; readonly max: number | "max" };

const PIDS_MAX: FileAddr = { scope: "pids", file: "pids.max" };

export const setPidsMax: ActionKindDef<SetPidsMax> = {
  kind: "set_pids_max",
  fields: { max: { check: integerIn(ACTION_LIMITS.pidsMax, true), type: 'number | "max"' } },
  scope: "pids",
  writes: { 1: [PIDS_MAX], 2: [PIDS_MAX] },
  reads: () => [PIDS_MAX],
  plan(action, version, current) {
    if (!exists(current, "pids.max")) return missing("pids.max", "is the pids controller enabled for this cgroup?");
    return planOf(version, [write("pids", "pids.max", action.max === "max" ? "max" : String(action.max))]);
  },
};
