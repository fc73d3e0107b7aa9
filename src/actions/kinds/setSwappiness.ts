/** `--memory-swappiness` 0..100 (v1 only; v2 has no per-cgroup swappiness). */
import { ACTION_LIMITS } from "../limits.js";
import { integerIn } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { exists, mem, missing, planOf, unsupported, write } from "./planKit.js";

export type SetSwappiness = { readonly kind: "set_swappiness"; readonly value: number };

export const setSwappiness: ActionKindDef<SetSwappiness> = {
  kind: "set_swappiness",
  fields: { value: { check: integerIn(ACTION_LIMITS.swappiness), type: "number" } },
  scope: "memory",
  writes: { 1: [mem("memory.swappiness")], 2: [] },
  reads: (_action, version) => (version === 1 ? [mem("memory.swappiness")] : []),
  plan(action, version, current) {
    if (version === 2) return unsupported("cgroup v2 has no per-cgroup swappiness");
    if (!exists(current, "memory.swappiness")) return missing("memory.swappiness", "is this a memory cgroup?");
    return planOf(version, [write("memory", "memory.swappiness", String(action.value), { kind: "exact" })]);
  },
};
