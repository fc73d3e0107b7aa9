/** Kill every process of the cgroup: v2 cgroup.kill; v1 has none, so SIGKILL each pid through the writer's guarded signal. */
import type { ActionKindDef } from "./kind.js";
import { planOf, write } from "./planKit.js";

export type Kill = { readonly kind: "kill" };

export const kill: ActionKindDef<Kill> = {
  kind: "kill",
  fields: {},
  scope: "procs",
  writes: { 1: [], 2: [{ scope: "v2_core", file: "cgroup.kill" }] },
  reads: () => [],
  plan: (_action, version) =>
    version === 1
      ? planOf(version, [{ kind: "signal_all", signal: "SIGKILL" }])
      : planOf(version, [write("v2_core", "cgroup.kill", "1", { kind: "none" })]),
};
