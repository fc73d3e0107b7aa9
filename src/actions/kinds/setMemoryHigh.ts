/** memory.high (v2 only). */
import type { BytesOrMax } from "../types.js";
import { BOOLEAN_FIELD, BYTES_FIELD } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { intOf, limitOf, mem, missing, planOf, toBytes, unsupported, v2Bytes, write } from "./planKit.js";

export type SetMemoryHigh = {
  readonly kind: "set_memory_high";
  readonly bytes: BytesOrMax;
  readonly allowBelowUsage?: boolean;
};

export const setMemoryHigh: ActionKindDef<SetMemoryHigh> = {
  kind: "set_memory_high",
  fields: { bytes: BYTES_FIELD, allowBelowUsage: { ...BOOLEAN_FIELD, optional: true } },
  scope: "memory",
  writes: { 1: [], 2: [mem("memory.high")] },
  reads: (_action, version) => (version === 1 ? [] : [mem("memory.high"), mem("memory.current")]),
  plan(action, version, current) {
    if (version === 1)
      return unsupported(
        "memory.high is cgroup v2 only (v1 has no throttling limit; use set_memory_reservation for the soft limit)",
      );
    const from = limitOf(current, "memory.high");
    if (from === undefined) return missing("memory.high", "is the memory controller enabled for this cgroup?");
    const to = toBytes(action.bytes);
    return planOf(version, [write("memory", "memory.high", v2Bytes(to))], {
      kind: "memory",
      field: "high",
      from,
      to,
      usage: intOf(current, "memory.current") ?? null,
      allowBelowUsage: action.allowBelowUsage === true,
    });
  },
};
