/**
 * The shipped authoring types (policies/cgwatch-policy.d.ts) must stay in step
 * with cgwatch's own contracts: these assignments fail to compile (tsc runs
 * over test/) when either side changes without the other.
 */
import { expectTypeOf, it } from "vitest";
import type * as Authoring from "../../policies/cgwatch-policy.js";
import type { Action } from "../../src/actions/types.js";
import type { CgroupSnapshot } from "../../src/cgroup/snapshot.js";
import type { EventKind, WatchdogEvent } from "../../src/events/types.js";

it("mirrors events, snapshots and actions both ways", () => {
  expectTypeOf<WatchdogEvent>().toEqualTypeOf<Authoring.WatchdogEvent>();
  expectTypeOf<EventKind>().toEqualTypeOf<Authoring.EventKind>();
  expectTypeOf<CgroupSnapshot>().toEqualTypeOf<Authoring.CgroupSnapshot>();
  expectTypeOf<Action>().toEqualTypeOf<Authoring.Action>();
});
