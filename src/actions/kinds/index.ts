/**
 * The registry of action kinds: one module per kind in this folder, one
 * line per kind below. Adding a kind is a new module (its fields, files,
 * reads and plan; see kind.ts), a line here, its test and its docs
 * (docs/actions.md, policies/cgwatch-policy.d.ts: a test checks the .d.ts
 * lists exactly these kinds and fields). The order is the order of
 * ACTION_KINDS (docs, tests). The `Action` union is derived from this list.
 */
import { annotate } from "./annotate.js";
import { freeze } from "./freeze.js";
import type { ActionOf } from "./kind.js";
import { kill } from "./kill.js";
import { createActionRegistry } from "./registry.js";
import { setCpuBurst } from "./setCpuBurst.js";
import { setCpuQuota } from "./setCpuQuota.js";
import { setCpuShares } from "./setCpuShares.js";
import { setCpuset } from "./setCpuset.js";
import { setIoThrottle } from "./setIoThrottle.js";
import { setIoWeight } from "./setIoWeight.js";
import { setMemoryHigh } from "./setMemoryHigh.js";
import { setMemoryLimit } from "./setMemoryLimit.js";
import { setMemoryReservation } from "./setMemoryReservation.js";
import { setOomGroup } from "./setOomGroup.js";
import { setOomKillDisable } from "./setOomKillDisable.js";
import { setOomScoreAdj } from "./setOomScoreAdj.js";
import { setPidsMax } from "./setPidsMax.js";
import { setSwapLimit } from "./setSwapLimit.js";
import { setSwappiness } from "./setSwappiness.js";
import { thaw } from "./thaw.js";

export const BUILTIN_ACTION_KINDS = [
  setMemoryLimit,
  setSwapLimit,
  setMemoryReservation,
  setMemoryHigh,
  setSwappiness,
  setOomScoreAdj,
  setOomKillDisable,
  setOomGroup,
  setCpuQuota,
  setCpuBurst,
  setCpuShares,
  setCpuset,
  setPidsMax,
  setIoWeight,
  setIoThrottle,
  freeze,
  thaw,
  kill,
  annotate,
] as const;

/** What a policy may ask for: one member per registered kind. */
export type Action = ActionOf<(typeof BUILTIN_ACTION_KINDS)[number]>;

export const ACTION_REGISTRY = createActionRegistry(BUILTIN_ACTION_KINDS);

export { createActionRegistry, type ActionRegistry, type WriteAllowList } from "./registry.js";
export type { ActionKindDef, ActionScope, ActionShape, FieldSpec } from "./kind.js";
