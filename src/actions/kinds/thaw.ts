/** Thaw a frozen cgroup: the same files as freeze. */
import { FREEZER_FILES, planFreezer } from "./freeze.js";
import type { ActionKindDef } from "./kind.js";

export type Thaw = { readonly kind: "thaw" };

export const thaw: ActionKindDef<Thaw> = {
  kind: "thaw",
  fields: {},
  scope: "freezer",
  writes: FREEZER_FILES,
  reads: (_action, version) => FREEZER_FILES[version],
  plan: (_action, version, current) => planFreezer(false, version, current),
};
