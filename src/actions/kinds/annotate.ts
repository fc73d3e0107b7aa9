/** Records only: a log line and a metric, no write (the executor lets it name any cgroup and skips the guardrails). */
import { ACTION_LIMITS } from "../limits.js";
import { flatRecord, text } from "./fields.js";
import type { ActionKindDef } from "./kind.js";
import { planOf } from "./planKit.js";

export type Annotate = {
  readonly kind: "annotate";
  readonly message: string;
  readonly data?: Readonly<Record<string, string | number | boolean>>;
};

export const annotate: ActionKindDef<Annotate> = {
  kind: "annotate",
  fields: {
    message: { check: text(ACTION_LIMITS.annotateMessageChars), type: "string" },
    data: {
      check: flatRecord(ACTION_LIMITS.annotateDataKeys.max, ACTION_LIMITS.annotateDataValueChars.max),
      type: "Readonly<Record<string, string | number | boolean>>",
      optional: true,
    },
  },
  scope: "none",
  writes: { 1: [], 2: [] },
  reads: () => [],
  plan: (_action, version) => planOf(version, [{ kind: "record" }]),
};
