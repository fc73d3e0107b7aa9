/** `-m`: memory.limit_in_bytes (v1, memsw ordered) / memory.max (v2). */
import type { CgroupVersion } from "../../cgroup/layout.js";
import type { Current, Effect, Plan, Unsupported } from "../plan.js";
import type { BytesOrMax } from "../types.js";
import { BOOLEAN_FIELD, BYTES_FIELD } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { intOf, limitOf, lt, mem, missing, planOf, toBytes, v1Bytes, v2Bytes, write } from "./planKit.js";

export type SetMemoryLimit = {
  readonly kind: "set_memory_limit";
  readonly bytes: BytesOrMax;
  readonly allowBelowUsage?: boolean;
};

function plan(action: SetMemoryLimit, version: CgroupVersion, current: Current): Plan | Unsupported {
  const to = toBytes(action.bytes);
  const allowBelowUsage = action.allowBelowUsage === true;
  if (version === 2) {
    const from = limitOf(current, "memory.max");
    if (from === undefined) return missing("memory.max", "is the memory controller enabled for this cgroup?");
    const usage = intOf(current, "memory.current") ?? null;
    return planOf(version, [write("memory", "memory.max", v2Bytes(to))], {
      kind: "memory",
      field: "limit",
      from,
      to,
      usage,
      allowBelowUsage,
    });
  }
  const from = limitOf(current, "memory.limit_in_bytes");
  if (from === undefined) return missing("memory.limit_in_bytes", "is this a memory cgroup?");
  const effect: Effect = {
    kind: "memory",
    field: "limit",
    from,
    to,
    usage: intOf(current, "memory.usage_in_bytes") ?? null,
    allowBelowUsage,
  };
  const limitStep = write("memory", "memory.limit_in_bytes", v1Bytes(to));
  const memsw = limitOf(current, "memory.memsw.limit_in_bytes");
  // No swap accounting, or memsw unlimited: the limit alone moves.
  if (memsw === undefined || memsw === null) return planOf(version, [limitStep], effect);
  // Keep the swap allowance (memsw - limit) the cgroup had; an unlimited
  // limit makes memsw unlimited too (memsw >= limit).
  const swap = from === null ? 0 : Math.max(0, memsw - from);
  const newMemsw = to === null ? null : to + swap;
  const memswStep = write(
    "memory",
    "memory.memsw.limit_in_bytes",
    v1Bytes(newMemsw),
    { kind: "limit" },
    "memsw >= limit at every step",
  );
  // memsw >= limit is checked by the kernel on every write (EINVAL):
  // raising moves memsw first, lowering moves the limit first.
  return planOf(version, lt(from, to) ? [memswStep, limitStep] : [limitStep, memswStep], effect);
}

export const setMemoryLimit: ActionKindDef<SetMemoryLimit> = {
  kind: "set_memory_limit",
  fields: { bytes: BYTES_FIELD, allowBelowUsage: { ...BOOLEAN_FIELD, optional: true } },
  scope: "memory",
  writes: { 1: [mem("memory.limit_in_bytes"), mem("memory.memsw.limit_in_bytes")], 2: [mem("memory.max")] },
  reads: (_action, version) =>
    version === 1
      ? [mem("memory.limit_in_bytes"), mem("memory.memsw.limit_in_bytes"), mem("memory.usage_in_bytes")]
      : [mem("memory.max"), mem("memory.current")],
  plan,
};
