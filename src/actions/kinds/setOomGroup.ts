/** memory.oom.group (v2 only): the OOM killer takes the whole cgroup. */
import { BOOLEAN_FIELD } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { exists, mem, missing, planOf, unsupported, write } from "./planKit.js";

export type SetOomGroup = { readonly kind: "set_oom_group"; readonly enable: boolean };

export const setOomGroup: ActionKindDef<SetOomGroup> = {
  kind: "set_oom_group",
  fields: { enable: BOOLEAN_FIELD },
  scope: "memory",
  writes: { 1: [], 2: [mem("memory.oom.group")] },
  reads: (_action, version) => (version === 1 ? [] : [mem("memory.oom.group")]),
  plan(action, version, current) {
    if (version === 1)
      return unsupported("memory.oom.group is cgroup v2 only (v1 kills one task; use set_oom_kill_disable or kill)");
    if (!exists(current, "memory.oom.group")) return missing("memory.oom.group", "kernel older than 4.19?");
    return planOf(version, [write("memory", "memory.oom.group", action.enable ? "1" : "0", { kind: "exact" })]);
  },
};
