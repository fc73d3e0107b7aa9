// Types of scripts/tiers.mjs, for the tests that run it (test/scripts/tiers.test.ts).
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  total: number | null;
  /** Tests the report counted as run (default passed + failed + skipped). */
  ran?: number;
  notes: string[];
}
export interface TierResult {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
  notes: string[];
  notRun?: boolean;
  seconds: number;
}
export interface Tier {
  name: string;
  cmd: string;
  args: string[];
  runner?: string;
  resultFile?: string;
  parse?: (json: unknown) => Counts;
  minTests?: number;
  skipReason?: string | null;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  stdio?: "inherit" | "pipe" | "ignore";
}
export const root: string;
export function readResultFile(
  file: string,
  parse?: (json: unknown) => Counts,
): { kind: "ok"; counts: Counts } | { kind: "error"; reason: string };
export function genericCounts(json: unknown): Counts;
export function vitestCounts(json: unknown): Counts;
export function verdict(
  counts: Counts,
  exitCode: number,
  opts?: { inCi?: boolean; minTests?: number },
): Omit<TierResult, "name" | "seconds">;
export function runTier(tier: Tier, opts?: { inCi?: boolean }): TierResult;
export function vitestTier(opts?: {
  name?: string;
  args?: string[];
  resultFile?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  stdio?: "inherit" | "pipe" | "ignore";
}): Tier;
export function summarize(results: TierResult[]): { passed: number; failed: number; exitCode: number; lines: string[] };
export function runAll(tiers: Tier[], opts?: { inCi?: boolean; write?: (s: string) => void }): number;
