/**
 * Small pure helpers the action kinds' plans share: file addresses, write
 * steps, reading numbers out of the current file contents, and the
 * "unsupported" answers. Nothing here knows an action kind.
 */
import type { CgroupVersion } from "../../cgroup/layout.js";
import { parseCpuMax, parseInteger, parseLimit } from "../../cgroup/parse.js";
import type { Current, Effect, FileAddr, Plan, Step, Unsupported, Verify } from "../plan.js";

export const mem = (file: string): FileAddr => ({ scope: "memory", file });
export const cpu = (file: string): FileAddr => ({ scope: "cpu", file });

export const unsupported = (reason: string): Unsupported => ({ kind: "unsupported", reason });

export function missing(file: string, what: string): Unsupported {
  return unsupported(`${file} does not exist here: ${what}`);
}

export function planOf(version: CgroupVersion, steps: readonly Step[], effect: Effect = { kind: "none" }): Plan {
  return { kind: "plan", version, steps, effect };
}

export function write(
  scope: FileAddr["scope"],
  file: string,
  value: string,
  verify: Verify = { kind: "limit" },
  why?: string,
): Step {
  return why === undefined
    ? { kind: "write", at: { scope, file }, value, verify }
    : { kind: "write", at: { scope, file }, value, verify, why };
}

/** A limit file's value: number, null = unlimited, undefined = absent or unparsable. */
export function limitOf(current: Current, file: string): number | null | undefined {
  const text = current.get(file);
  if (text === undefined || text === null) return undefined;
  const p = parseLimit(text);
  return p.kind === "ok" ? p.value : undefined;
}

export function intOf(current: Current, file: string): number | undefined {
  const text = current.get(file);
  if (text === undefined || text === null) return undefined;
  const p = parseInteger(text);
  return p.kind === "ok" ? p.value : undefined;
}

export function cpuMaxOf(current: Current): { quotaUs: number | null; periodUs: number } | undefined {
  const text = current.get("cpu.max");
  if (text === undefined || text === null) return undefined;
  const p = parseCpuMax(text);
  return p.kind === "ok" ? p.value : undefined;
}

export const exists = (current: Current, file: string): boolean => typeof current.get(file) === "string";

export const toBytes = (b: number | "max"): number | null => (b === "max" ? null : b);
/** v1 memory files take -1 for unlimited; v2 takes "max". */
export const v1Bytes = (b: number | null): string => (b === null ? "-1" : String(b));
export const v2Bytes = (b: number | null): string => (b === null ? "max" : String(b));
/** Compare limits with null = +∞. */
export const lt = (a: number | null, b: number | null): boolean => (a === null ? false : b === null ? true : a < b);
