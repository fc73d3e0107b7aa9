/** `--oom-score-adj` -1000..1000 for every process in the cgroup (through /proc, not a control file). */
import { ACTION_LIMITS } from "../limits.js";
import { integerIn } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { planOf } from "./planKit.js";

export type SetOomScoreAdj = { readonly kind: "set_oom_score_adj"; readonly value: number };

export const setOomScoreAdj: ActionKindDef<SetOomScoreAdj> = {
  kind: "set_oom_score_adj",
  fields: { value: { check: integerIn(ACTION_LIMITS.oomScoreAdj), type: "number" } },
  scope: "procs",
  writes: { 1: [], 2: [] },
  reads: () => [],
  plan: (action, version) => planOf(version, [{ kind: "oom_score_adj_all", value: action.value }]),
};
