/**
 * A registry of action kinds: the one place that turns the kinds'
 * declarations into what the rest of cgwatch runs on. `check` is the field
 * validation both the policy host and the executor use; `scopeOf`,
 * `readsFor` and `plan` dispatch to the kind's module; `writable` is the
 * guarded writer's allow-list (the union of the files the kinds declare).
 * Built once from a list (./index.ts); tests build their own with an extra kind.
 */
import { CONTROLLERS, type CgroupVersion, type Controller } from "../../cgroup/layout.js";
import type { Current, FileAddr, Plan, Unsupported } from "../plan.js";
import { describeValue } from "./fields.js";
import type { ActionKindDef, ActionScope, ActionShape, FieldSpec } from "./kind.js";

/** Control files the guarded writer may write: per controller, and the v2 core files of every cgroup. */
export interface WriteAllowList {
  readonly byController: Readonly<Record<Controller, readonly string[]>>;
  readonly v2Core: readonly string[];
}

export type CheckResult =
  { readonly kind: "ok"; readonly action: ActionShape } | { readonly kind: "invalid"; readonly reason: string };

export interface ActionRegistry {
  /** Registered kinds, in registration order. */
  readonly kinds: readonly string[];
  readonly defs: readonly ActionKindDef[];
  get(kind: string): ActionKindDef | undefined;
  /** Shape and value check of untrusted input (policy output, a proposal): unknown kinds and fields, missing fields, ranges. */
  check(raw: unknown): CheckResult;
  scopeOf(action: ActionShape): ActionScope;
  readsFor(action: ActionShape, version: CgroupVersion): readonly FileAddr[];
  /** The kind's plan, refused if it writes a file the kind does not declare for this version (a bug in the kind, never written). */
  plan(action: ActionShape, version: CgroupVersion, current: Current): Plan | Unsupported;
  readonly writable: WriteAllowList;
}

function checkFields(kind: string, def: ActionKindDef, obj: Record<string, unknown>): string | null {
  const fields: Readonly<Record<string, FieldSpec>> = def.fields;
  for (const key of Object.keys(obj)) {
    if (key !== "kind" && !Object.hasOwn(fields, key)) return `${kind}: unknown field "${key}"`;
  }
  let optionalPresent = 0;
  for (const [key, spec] of Object.entries(fields)) {
    const present = Object.hasOwn(obj, key);
    if (spec.optional === true) {
      if (!present || obj[key] === undefined) continue;
      optionalPresent++;
    } else if (!present) {
      return `${kind}: missing field "${key}"`;
    }
    const problem = spec.check(obj[key]);
    if (problem !== null) return `${kind}.${key} ${problem}`;
  }
  if (def.needsOneOptional === true && optionalPresent === 0) {
    const optional = Object.entries(fields).flatMap(([k, s]) => (s.optional === true ? [k] : []));
    return `${kind}: needs at least one of ${optional.join(", ")}`;
  }
  return null;
}

function allowListOf(defs: readonly ActionKindDef[]): WriteAllowList {
  const byController = new Map<Controller, Set<string>>(CONTROLLERS.map((c) => [c, new Set<string>()]));
  const v2Core = new Set<string>();
  for (const def of defs) {
    for (const at of [...def.writes[1], ...def.writes[2]]) {
      if (at.scope === "v2_core") v2Core.add(at.file);
      else byController.get(at.scope)?.add(at.file);
    }
  }
  const entries = CONTROLLERS.map((c): [Controller, readonly string[]] => [
    c,
    Object.freeze([...(byController.get(c) ?? [])]),
  ]);
  return Object.freeze({
    byController: Object.freeze(Object.fromEntries(entries) as Record<Controller, readonly string[]>),
    v2Core: Object.freeze([...v2Core]),
  });
}

function undeclaredWrite(def: ActionKindDef, plan: Plan): string | null {
  const declared = def.writes[plan.version];
  for (const step of plan.steps) {
    if (step.kind !== "write") continue;
    if (!declared.some((d) => d.scope === step.at.scope && d.file === step.at.file)) return step.at.file;
  }
  return null;
}

/** Throws on a duplicate kind: registering one twice is a programming error, found at startup. */
export function createActionRegistry(defs: readonly ActionKindDef[]): ActionRegistry {
  const byKind = new Map<string, ActionKindDef>();
  for (const def of defs) {
    if (byKind.has(def.kind)) throw new Error(`action kind ${def.kind} is registered twice`);
    byKind.set(def.kind, def);
  }
  // Only called on actions that passed `check`, so the kind is registered.
  const defOf = (action: ActionShape): ActionKindDef => {
    const def = byKind.get(action.kind);
    if (def === undefined) throw new Error(`unknown action kind ${JSON.stringify(action.kind)}`);
    return def;
  };
  return {
    kinds: [...byKind.keys()],
    defs: [...byKind.values()],
    get: (kind) => byKind.get(kind),
    check(raw) {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw))
        return { kind: "invalid", reason: `not an action object: ${describeValue(raw)}` };
      const obj = raw as Record<string, unknown>;
      const def = typeof obj["kind"] === "string" ? byKind.get(obj["kind"]) : undefined;
      if (def === undefined) return { kind: "invalid", reason: `unknown action kind ${describeValue(obj["kind"])}` };
      const problem = checkFields(def.kind, def, obj);
      return problem === null
        ? { kind: "ok", action: obj as unknown as ActionShape }
        : { kind: "invalid", reason: problem };
    },
    scopeOf: (action) => defOf(action).scope,
    readsFor: (action, version) => defOf(action).reads(action, version),
    plan(action, version, current) {
      const def = defOf(action);
      const planned = def.plan(action, version, current);
      if (planned.kind === "unsupported") return planned;
      const file = undeclaredWrite(def, planned);
      return file === null
        ? planned
        : {
            kind: "unsupported",
            reason: `${def.kind} planned a write to ${file}, which it does not declare for cgroup v${version}`,
          };
    },
    writable: allowListOf(defs),
  };
}
