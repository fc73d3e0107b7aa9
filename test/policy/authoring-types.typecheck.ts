/**
 * The shipped authoring types (policies/cgwatch-policy.d.ts) must stay in
 * step with cgwatch's own contracts. This is a compile-time check, not a
 * runtime test: vitest does not run it (not a *.test.ts file, and
 * expectTypeOf does nothing at runtime, so as a vitest test it would count
 * as a pass proving nothing); tsc compiles it in `npm test`'s build tier
 * (tsconfig includes test/**), and these lines fail to compile when either
 * side changes without the other.
 */
import { expectTypeOf } from "vitest";
import type * as Authoring from "../../policies/cgwatch-policy.js";
import type { Action } from "../../src/actions/types.js";
import type { CgroupSnapshot } from "../../src/cgroup/snapshot.js";
import type { EventKind, WatchdogEvent } from "../../src/events/types.js";

export function authoringTypesMirrorTheRuntime(): void {
  expectTypeOf<WatchdogEvent>().toEqualTypeOf<Authoring.WatchdogEvent>();
  expectTypeOf<EventKind>().toEqualTypeOf<Authoring.EventKind>();
  expectTypeOf<CgroupSnapshot>().toEqualTypeOf<Authoring.CgroupSnapshot>();
  expectTypeOf<Action>().toEqualTypeOf<Authoring.Action>();
}
