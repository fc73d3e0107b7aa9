/** `--memory-reservation`: memory.soft_limit_in_bytes (v1) / memory.low (v2). */
import type { BytesOrMax } from "../types.js";
import { BYTES_FIELD } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { limitOf, mem, missing, planOf, toBytes, v1Bytes, v2Bytes, write } from "./planKit.js";

export type SetMemoryReservation = { readonly kind: "set_memory_reservation"; readonly bytes: BytesOrMax };

const fileFor = (version: 1 | 2): string => (version === 1 ? "memory.soft_limit_in_bytes" : "memory.low");

export const setMemoryReservation: ActionKindDef<SetMemoryReservation> = {
  kind: "set_memory_reservation",
  fields: { bytes: BYTES_FIELD },
  scope: "memory",
  writes: { 1: [mem(fileFor(1))], 2: [mem(fileFor(2))] },
  reads: (_action, version) => [mem(fileFor(version))],
  plan(action, version, current) {
    const file = fileFor(version);
    const from = limitOf(current, file);
    if (from === undefined) return missing(file, "is this a memory cgroup?");
    const to = toBytes(action.bytes);
    const effect = { kind: "memory", field: "reservation", from, to, usage: null, allowBelowUsage: true } as const;
    return planOf(version, [write("memory", file, version === 1 ? v1Bytes(to) : v2Bytes(to))], effect);
  },
};
