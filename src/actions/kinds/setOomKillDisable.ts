/** `--oom-kill-disable`: v1 memory.oom_control (v2 has none: set_oom_group). */
import { BOOLEAN_FIELD } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { exists, mem, missing, planOf, unsupported, write } from "./planKit.js";

export type SetOomKillDisable = { readonly kind: "set_oom_kill_disable"; readonly disable: boolean };

export const setOomKillDisable: ActionKindDef<SetOomKillDisable> = {
  kind: "set_oom_kill_disable",
  fields: { disable: BOOLEAN_FIELD },
  scope: "memory",
  writes: { 1: [mem("memory.oom_control")], 2: [] },
  reads: (_action, version) => (version === 1 ? [mem("memory.oom_control")] : []),
  plan(action, version, current) {
    if (version === 2) return unsupported("cgroup v2 has no oom_kill_disable (use set_oom_group, or raise memory.max)");
    if (!exists(current, "memory.oom_control")) return missing("memory.oom_control", "is this a memory cgroup?");
    const value = action.disable ? "1" : "0";
    return planOf(version, [
      write("memory", "memory.oom_control", value, { kind: "key", key: "oom_kill_disable", expect: value }),
    ]);
  },
};
