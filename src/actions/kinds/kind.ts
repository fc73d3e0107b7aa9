/**
 * What one action kind declares, in one module: its fields (check, type as
 * policy authors see it, optional or not), its hierarchy, the control files
 * it may write per cgroup version, the files it reads before planning, and
 * its plan (ordered writes, each with how to confirm it by reading back).
 * The registry (./index.ts) derives from these both validators, the
 * planner's dispatch, the guarded writer's allow-list and the policy .d.ts
 * check; the `Action` union is derived from the registered declarations.
 */
import type { CgroupVersion, Controller } from "../../cgroup/layout.js";
import type { Current, FileAddr, Plan, Unsupported } from "../plan.js";
import type { FieldCheck } from "./fields.js";

/** Any action: a JSON object tagged by `kind`. */
export interface ActionShape {
  readonly kind: string;
}

/** One field: its check, its type as written in policies/cgwatch-policy.d.ts, and whether a policy may leave it out. */
export interface FieldSpec {
  readonly check: FieldCheck;
  readonly type: string;
  readonly optional?: boolean;
}

type FieldKey<A> = Exclude<keyof A, "kind">;
type IsOptional<A, K extends keyof A> = Record<never, never> extends Pick<A, K> ? true : false;

/** Exactly the fields of `A`, each marked optional exactly when `A` makes it optional (a compile error otherwise). */
export type FieldsOf<A> = {
  readonly [K in FieldKey<A>]-?: IsOptional<A, K> extends true
    ? FieldSpec & { readonly optional: true }
    : FieldSpec & { readonly optional?: false };
};

/** Where an action acts: a controller's hierarchy, the processes of the cgroup, or nowhere (annotate). */
export type ActionScope = Controller | "procs" | "none";

export interface ActionKindDef<A extends ActionShape = ActionShape> {
  readonly kind: A["kind"];
  /** Declared in order: required fields first (error messages name the first bad one). */
  readonly fields: FieldsOf<A>;
  /** At least one optional field must be present (set_cpuset, set_io_throttle). */
  readonly needsOneOptional?: boolean;
  readonly scope: ActionScope;
  /** Every control file a plan of this kind may write, per version; the guarded writer allows exactly their union. */
  readonly writes: { readonly 1: readonly FileAddr[]; readonly 2: readonly FileAddr[] };
  /** Files the planner needs to see (the ones it writes, plus usage / sibling knobs that decide order). */
  reads(action: A, version: CgroupVersion): readonly FileAddr[];
  /** Ordered steps, or why this cgroup/version cannot take the action. Called only on a validated action. */
  plan(action: A, version: CgroupVersion, current: Current): Plan | Unsupported;
}

/** The action type a declaration stands for. */
export type ActionOf<D> = D extends ActionKindDef<infer A> ? A : never;
