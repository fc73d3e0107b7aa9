/** `--blkio-weight` (v1 blkio.weight or blkio.bfq.weight / v2 io.weight, runc's conversion). */
import { ACTION_LIMITS } from "../limits.js";
import type { FileAddr } from "../plan.js";
import { integerIn } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { exists, missing, planOf, write } from "./planKit.js";

export type SetIoWeight = { readonly kind: "set_io_weight"; readonly weight: number };

/** runc's conversion of blkio.weight (10..1000) to io.weight (1..10000). */
export function blkioWeightToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

const V1_FILES: readonly FileAddr[] = [
  { scope: "blkio", file: "blkio.weight" },
  { scope: "blkio", file: "blkio.bfq.weight" },
];
const V2_FILE: FileAddr = { scope: "io", file: "io.weight" };

export const setIoWeight: ActionKindDef<SetIoWeight> = {
  kind: "set_io_weight",
  fields: { weight: { check: integerIn(ACTION_LIMITS.ioWeight), type: "number" } },
  scope: "blkio",
  writes: { 1: V1_FILES, 2: [V2_FILE] },
  reads: (_action, version) => (version === 1 ? V1_FILES : [V2_FILE]),
  plan(action, version, current) {
    if (version === 2) {
      if (!exists(current, "io.weight"))
        return missing("io.weight", "no proportional io scheduler (BFQ) for this cgroup");
      const w = blkioWeightToIoWeight(action.weight);
      return planOf(version, [
        write(
          "io",
          "io.weight",
          `default ${w}`,
          { kind: "key", key: "default", expect: String(w) },
          "runc: io.weight = 1 + (blkio weight - 10) * 9999 / 990",
        ),
      ]);
    }
    // CFQ kernels have blkio.weight, BFQ ones blkio.bfq.weight (same 10..1000 scale... BFQ accepts 1..1000).
    const file = exists(current, "blkio.weight")
      ? "blkio.weight"
      : exists(current, "blkio.bfq.weight")
        ? "blkio.bfq.weight"
        : null;
    if (file === null) return missing("blkio.weight", "no proportional io scheduler (CFQ/BFQ) on this kernel");
    const verify =
      file === "blkio.bfq.weight"
        ? ({ kind: "key", key: "default", expect: String(action.weight) } as const)
        : ({ kind: "exact" } as const);
    return planOf(version, [write("blkio", file, String(action.weight), verify)]);
  },
};
