/**
 * Validation of what a policy returns. Policy output is untrusted data: it is
 * checked field by field against the `Action` union before it may become an
 * `ActionProposal`. The checks here are about sanity (types, finiteness,
 * integer-ness, absurd magnitudes, unknown fields that are usually typos);
 * whether a sane value is *wise* is for the guardrails in `actions/`.
 */
import { ACTION_LIMITS as L, type IntRange } from "../actions/limits.js";
import { ACTION_KINDS, type Action, type ActionKind } from "../actions/types.js";

/** The sandbox encodes NaN/±Infinity as this marker so they are not silently turned into `null` by JSON. */
export const NON_FINITE_KEY = "$cgwatchNonFinite";

export type ValidationResult = { readonly kind: "ok"; readonly actions: Action[] } | { readonly kind: "invalid"; readonly reason: string };

type FieldCheck = (v: unknown) => string | null;

function describe(v: unknown): string {
  if (typeof v === "object" && v !== null && NON_FINITE_KEY in v) {
    const m = (v as Record<string, unknown>)[NON_FINITE_KEY];
    return typeof m === "string" ? m : "a non-finite number";
  }
  switch (typeof v) {
    case "string":
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case "number":
    case "boolean":
    case "bigint":
      return String(v);
    case "undefined":
      return "undefined";
    case "object":
      return v === null ? "null" : Array.isArray(v) ? "an array" : "an object";
    case "symbol":
    case "function":
      return typeof v;
  }
}

function integerIn({ min, max }: IntRange, allowMax = false): FieldCheck {
  return (v) => {
    if (allowMax && v === "max") return null;
    if (typeof v !== "number") return `must be ${allowMax ? '"max" or ' : ""}an integer, got ${describe(v)}`;
    if (!Number.isInteger(v)) return `must be an integer, got ${v}`;
    if (v < min || v > max) return `must be within ${min}..${max}, got ${v}`;
    return null;
  };
}

const bytes = integerIn(L.bytes, true);
const boolean: FieldCheck = (v) => (typeof v === "boolean" ? null : `must be a boolean, got ${describe(v)}`);
const cpuList: FieldCheck = (v) =>
  typeof v === "string" && v.length <= 256 && /^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/.test(v) ? null : `must be a cpu/mem list like "0-3,8", got ${describe(v)}`;
const device: FieldCheck = (v) => (typeof v === "string" && /^[0-9]{1,10}:[0-9]{1,10}$/.test(v) ? null : `must be "major:minor", got ${describe(v)}`);
const message: FieldCheck = (v) =>
  typeof v === "string" && v.length >= L.annotateMessageChars.min && v.length <= L.annotateMessageChars.max
    ? null
    : `must be a non-empty string of at most ${L.annotateMessageChars.max} characters, got ${describe(v)}`;
const annotationData: FieldCheck = (v) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `must be an object, got ${describe(v)}`;
  const entries = Object.entries(v);
  if (entries.length > 32) return `must have at most 32 keys, got ${entries.length}`;
  for (const [k, x] of entries) {
    const ok = typeof x === "string" ? x.length <= 1024 : typeof x === "number" ? Number.isFinite(x) : typeof x === "boolean";
    if (!ok) return `.${k} must be a string, finite number or boolean, got ${describe(x)}`;
  }
  return null;
};

interface KindSpec {
  readonly required: Readonly<Record<string, FieldCheck>>;
  readonly optional: Readonly<Record<string, FieldCheck>>;
  /** At least one of the optional fields must be present. */
  readonly needsOneOptional?: boolean;
}

// A Record over ActionKind: adding an action kind without a spec here is a compile error.
const SPECS: Readonly<Record<ActionKind, KindSpec>> = {
  set_memory_limit: { required: { bytes }, optional: { allowBelowUsage: boolean } },
  set_swap_limit: { required: { bytes }, optional: {} },
  set_memory_reservation: { required: { bytes }, optional: {} },
  set_memory_high: { required: { bytes }, optional: { allowBelowUsage: boolean } },
  set_swappiness: { required: { value: integerIn(L.swappiness) }, optional: {} },
  set_oom_score_adj: { required: { value: integerIn(L.oomScoreAdj) }, optional: {} },
  set_oom_kill_disable: { required: { disable: boolean }, optional: {} },
  set_oom_group: { required: { enable: boolean }, optional: {} },
  set_cpu_quota: { required: { quotaUs: integerIn(L.cpuQuotaUs, true) }, optional: { periodUs: integerIn(L.cpuPeriodUs) } },
  set_cpu_burst: { required: { burstUs: integerIn(L.cpuBurstUs) }, optional: {} },
  set_cpu_shares: { required: { shares: integerIn(L.cpuShares) }, optional: {} },
  set_cpuset: { required: {}, optional: { cpus: cpuList, mems: cpuList }, needsOneOptional: true },
  set_pids_max: { required: { max: integerIn(L.pidsMax, true) }, optional: {} },
  set_io_weight: { required: { weight: integerIn(L.ioWeight) }, optional: {} },
  set_io_throttle: {
    required: { device },
    optional: { readBps: bytes, writeBps: bytes, readIops: integerIn(L.iops, true), writeIops: integerIn(L.iops, true) },
    needsOneOptional: true,
  },
  freeze: { required: {}, optional: {} },
  thaw: { required: {}, optional: {} },
  kill: { required: {}, optional: {} },
  annotate: { required: { message }, optional: { data: annotationData } },
};

function isActionKind(v: unknown): v is ActionKind {
  return typeof v === "string" && (ACTION_KINDS as readonly string[]).includes(v);
}

export function validateAction(raw: unknown): { kind: "ok"; action: Action } | { kind: "invalid"; reason: string } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { kind: "invalid", reason: `not an action object: ${describe(raw)}` };
  const obj = raw as Record<string, unknown>;
  if (!isActionKind(obj.kind)) return { kind: "invalid", reason: `unknown action kind ${describe(obj.kind)}` };
  const spec = SPECS[obj.kind];
  for (const key of Object.keys(obj)) {
    if (key !== "kind" && !(key in spec.required) && !(key in spec.optional)) return { kind: "invalid", reason: `${obj.kind}: unknown field "${key}"` };
  }
  for (const [key, check] of Object.entries(spec.required)) {
    if (!(key in obj)) return { kind: "invalid", reason: `${obj.kind}: missing field "${key}"` };
    const problem = check(obj[key]);
    if (problem !== null) return { kind: "invalid", reason: `${obj.kind}.${key} ${problem}` };
  }
  let optionalPresent = 0;
  for (const [key, check] of Object.entries(spec.optional)) {
    if (!(key in obj) || obj[key] === undefined) continue;
    optionalPresent++;
    const problem = check(obj[key]);
    if (problem !== null) return { kind: "invalid", reason: `${obj.kind}.${key} ${problem}` };
  }
  if (spec.needsOneOptional === true && optionalPresent === 0) {
    return { kind: "invalid", reason: `${obj.kind}: needs at least one of ${Object.keys(spec.optional).join(", ")}` };
  }
  // Every field was checked against the spec of its kind above, which mirrors the Action union.
  return { kind: "ok", action: obj as unknown as Action };
}

/** A policy result: undefined/null (no action), or an array of at most `maxActions` actions. */
export function validateResult(raw: unknown, maxActions: number): ValidationResult {
  if (raw === undefined || raw === null) return { kind: "ok", actions: [] };
  if (!Array.isArray(raw)) return { kind: "invalid", reason: `result must be an array of actions (or undefined), got ${describe(raw)}` };
  if (raw.length > maxActions) return { kind: "invalid", reason: `too many actions: ${raw.length} > ${maxActions}` };
  const actions: Action[] = [];
  for (const [i, item] of raw.entries()) {
    const r = validateAction(item);
    if (r.kind === "invalid") return { kind: "invalid", reason: `action [${i}]: ${r.reason}` };
    actions.push(r.action);
  }
  return { kind: "ok", actions };
}
