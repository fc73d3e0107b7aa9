/**
 * Value checks on an action, before anything is read or written. Actions
 * arrive as JSON from policy sandboxes; the policy host validates them, but
 * this is the last line before the kernel, so the same checks (the
 * registry's, declared by each kind in `kinds/`) run here again and a bad
 * value becomes a clear rejection (never a thrown error or a write the
 * kernel would half-apply).
 */
import { ACTION_REGISTRY, type ActionRegistry } from "./kinds/index.js";
import type { Action } from "./types.js";

/** null = valid; otherwise why not. */
export function validateAction(action: Action, registry: ActionRegistry = ACTION_REGISTRY): string | null {
  const r = registry.check(action);
  return r.kind === "ok" ? null : r.reason;
}
