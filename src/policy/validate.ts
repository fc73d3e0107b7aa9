/**
 * Validation of what a policy returns. Policy output is untrusted data: it is
 * checked field by field against the registered action kinds (their field
 * declarations in `actions/kinds/`, the same checks the executor runs) before
 * it may become an `ActionProposal`. The checks here are about sanity (types,
 * finiteness, integer-ness, absurd magnitudes, unknown fields that are
 * usually typos); whether a sane value is *wise* is for the guardrails in
 * `actions/`.
 */
import { ACTION_REGISTRY, type ActionRegistry } from "../actions/kinds/index.js";
import { describeValue as describe } from "../actions/kinds/fields.js";
import type { Action } from "../actions/types.js";

/** The sandbox encodes NaN/±Infinity as this marker so they are not silently turned into `null` by JSON. */
export { NON_FINITE_KEY } from "../actions/kinds/fields.js";

export type ValidationResult =
  { readonly kind: "ok"; readonly actions: Action[] } | { readonly kind: "invalid"; readonly reason: string };

export function validateAction(
  raw: unknown,
  registry: ActionRegistry = ACTION_REGISTRY,
): { kind: "ok"; action: Action } | { kind: "invalid"; reason: string } {
  const r = registry.check(raw);
  // Every field was checked against its kind's declaration, from which the Action union is derived.
  return r.kind === "ok" ? { kind: "ok", action: r.action as Action } : { kind: "invalid", reason: r.reason };
}

/** A policy result: undefined/null (no action), or an array of at most `maxActions` actions. */
export function validateResult(
  raw: unknown,
  maxActions: number,
  registry: ActionRegistry = ACTION_REGISTRY,
): ValidationResult {
  if (raw === undefined || raw === null) return { kind: "ok", actions: [] };
  if (!Array.isArray(raw))
    return { kind: "invalid", reason: `result must be an array of actions (or undefined), got ${describe(raw)}` };
  if (raw.length > maxActions) return { kind: "invalid", reason: `too many actions: ${raw.length} > ${maxActions}` };
  const actions: Action[] = [];
  for (const [i, item] of raw.entries()) {
    const r = validateAction(item, registry);
    if (r.kind === "invalid") return { kind: "invalid", reason: `action [${i}]: ${r.reason}` };
    actions.push(r.action);
  }
  return { kind: "ok", actions };
}
