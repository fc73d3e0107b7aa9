/** `--memory-swap` semantics per version: v1 memsw = memory + swap; v2 memory.swap.max = swap only. Here: swap bytes only. */
import type { BytesOrMax } from "../types.js";
import { BYTES_FIELD } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { exists, limitOf, mem, missing, planOf, toBytes, unsupported, v1Bytes, v2Bytes, write } from "./planKit.js";

export type SetSwapLimit = { readonly kind: "set_swap_limit"; readonly bytes: BytesOrMax };

export const setSwapLimit: ActionKindDef<SetSwapLimit> = {
  kind: "set_swap_limit",
  fields: { bytes: BYTES_FIELD },
  scope: "memory",
  writes: { 1: [mem("memory.memsw.limit_in_bytes")], 2: [mem("memory.swap.max")] },
  reads: (_action, version) =>
    version === 1 ? [mem("memory.limit_in_bytes"), mem("memory.memsw.limit_in_bytes")] : [mem("memory.swap.max")],
  plan(action, version, current) {
    const swap = toBytes(action.bytes);
    if (version === 2) {
      if (!exists(current, "memory.swap.max"))
        return missing("memory.swap.max", "swap accounting is off (no swap controller or swapaccount=0)");
      return planOf(version, [write("memory", "memory.swap.max", v2Bytes(swap))]);
    }
    if (!exists(current, "memory.memsw.limit_in_bytes"))
      return missing("memory.memsw.limit_in_bytes", "swap accounting is off (boot with swapaccount=1)");
    const limit = limitOf(current, "memory.limit_in_bytes");
    if (limit === undefined) return missing("memory.limit_in_bytes", "is this a memory cgroup?");
    if (swap !== null && limit === null)
      return unsupported("cgroup v1 limits swap as memory+swap (memsw): set a memory limit first");
    const memsw = v1Bytes(swap === null || limit === null ? null : limit + swap);
    return planOf(version, [
      write("memory", "memory.memsw.limit_in_bytes", memsw, { kind: "limit" }, "v1 memsw = memory limit + swap"),
    ]);
  },
};
