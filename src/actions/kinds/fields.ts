/**
 * Field checks for action kinds: each returns null for a good value or the
 * problem ("must be within 0..100, got 101"). Both validators run these same
 * checks through the registry, so the policy host and the executor cannot
 * disagree on a value again. Ranges come from ../limits.ts.
 */
import { ACTION_LIMITS, type IntRange } from "../limits.js";

/** The sandbox encodes NaN/±Infinity as this marker so they are not silently turned into `null` by JSON. */
export const NON_FINITE_KEY = "$cgwatchNonFinite";

export type FieldCheck = (v: unknown) => string | null;

/** A value as a short phrase for error messages (strings cut at 40 characters, objects named not printed). */
export function describeValue(v: unknown): string {
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

/** An integer within the range; with `allowMax`, also the string "max". */
export function integerIn({ min, max }: IntRange, allowMax = false): FieldCheck {
  return (v) => {
    if (allowMax && v === "max") return null;
    if (typeof v !== "number") return `must be ${allowMax ? '"max" or ' : ""}an integer, got ${describeValue(v)}`;
    if (!Number.isInteger(v)) return `must be an integer, got ${v}`;
    if (v < min || v > max) return `must be within ${min}..${max}, got ${v}`;
    return null;
  };
}

export const boolean: FieldCheck = (v) =>
  typeof v === "boolean" ? null : `must be a boolean, got ${describeValue(v)}`;

/** Kernel list format: "0-3,5,7-8". */
export const cpuList: FieldCheck = (v) =>
  typeof v === "string" && v.length <= 256 && /^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/.test(v)
    ? null
    : `must be a cpu/mem list like "0-3,8", got ${describeValue(v)}`;

export const device: FieldCheck = (v) =>
  typeof v === "string" && /^[0-9]{1,10}:[0-9]{1,10}$/.test(v)
    ? null
    : `must be "major:minor", got ${describeValue(v)}`;

/** A non-blank string of `range.min`..`range.max` characters. */
export function text(range: IntRange): FieldCheck {
  return (v) =>
    typeof v === "string" && v.trim() !== "" && v.length >= range.min && v.length <= range.max
      ? null
      : `must be a non-empty string of at most ${range.max} characters, got ${describeValue(v)}`;
}

/** A flat object of at most `maxKeys` strings (<= `maxChars`), finite numbers and booleans. */
export function flatRecord(maxKeys: number, maxChars: number): FieldCheck {
  return (v) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return `must be an object, got ${describeValue(v)}`;
    const entries = Object.entries(v);
    if (entries.length > maxKeys) return `must have at most ${maxKeys} keys, got ${entries.length}`;
    for (const [k, x] of entries) {
      const ok =
        typeof x === "string"
          ? x.length <= maxChars
          : typeof x === "number"
            ? Number.isFinite(x)
            : typeof x === "boolean";
      if (!ok) return `.${k} must be a string, finite number or boolean, got ${describeValue(x)}`;
    }
    return null;
  };
}

/** Fields several kinds share, with their .d.ts type. */
export const BYTES_FIELD = { check: integerIn(ACTION_LIMITS.bytes, true), type: "BytesOrMax" } as const;
export const BOOLEAN_FIELD = { check: boolean, type: "boolean" } as const;
