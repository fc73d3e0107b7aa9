/**
 * Host side of the VM tier: turns what the guest left in the read-write
 * share (guest.tap, kernel, rc) into test-results/vm.json, the file
 * scripts/test.mjs reads: {passed, failed, skipped, kernel, wallSeconds}.
 * A missing or truncated report is a failure, never zero tests passed.
 *
 * Usage: node dist/test/vm/summarise.js <guest results dir> <vm.json> <vm exit code> <wall seconds>
 */
import fs from "node:fs";
import path from "node:path";

export interface TapCounts {
  readonly tests: number;
  readonly pass: number;
  readonly fail: number;
  readonly cancelled: number;
  readonly skipped: number;
  readonly todo: number;
}

/** The closing `# key N` lines of node:test's TAP reporter; null if the run never reached them. */
export function parseTapSummary(tap: string): TapCounts | null {
  const get = (key: string): number | null => {
    const m = new RegExp(`^# ${key} (\\d+)\\s*$`, "m").exec(tap);
    return m?.[1] === undefined ? null : Number(m[1]);
  };
  const tests = get("tests");
  const pass = get("pass");
  const fail = get("fail");
  if (tests === null || pass === null || fail === null) return null;
  return { tests, pass, fail, cancelled: get("cancelled") ?? 0, skipped: get("skipped") ?? 0, todo: get("todo") ?? 0 };
}

/** Names of failing tests (`not ok N - name`), for the one-line summary. */
export function failingTests(tap: string): string[] {
  return [...tap.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1] ?? "").filter((n) => n !== "");
}

export interface VmSummary {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly kernel: string;
  readonly wallSeconds: number;
  readonly vmExitCode: number;
  readonly failures: readonly string[];
  readonly error?: string;
}

export function summarise(resultsDir: string, vmExitCode: number, wallSeconds: number): VmSummary {
  const readOr = (name: string): string | null => {
    try {
      return fs.readFileSync(path.join(resultsDir, name), "utf8");
    } catch {
      return null;
    }
  };
  const kernel = readOr("kernel")?.trim() ?? "unknown (guest did not start)";
  const tap = readOr("guest.tap");
  const counts = tap === null ? null : parseTapSummary(tap);
  const failures = tap === null ? [] : failingTests(tap);
  const base = { kernel, wallSeconds, vmExitCode, failures };
  if (counts === null) {
    const why = tap === null ? "no TAP report from the guest" : "the guest's TAP report has no summary (run cut short)";
    return { ...base, passed: 0, failed: 1, skipped: 0, error: `${why}; VM exit code ${vmExitCode}` };
  }
  let failed = counts.fail + counts.cancelled;
  // The VM failed (timeout, crash, no marker) although every test it reported passed: still a failure.
  if (vmExitCode !== 0 && failed === 0) failed = 1;
  return { ...base, passed: counts.pass, failed, skipped: counts.skipped + counts.todo };
}

function main(argv: readonly string[]): number {
  const [resultsDir, outFile, rcText, wallText] = argv;
  if (resultsDir === undefined || outFile === undefined || rcText === undefined || wallText === undefined) {
    process.stderr.write("usage: summarise.js <guest results dir> <vm.json> <vm exit code> <wall seconds>\n");
    return 2;
  }
  const s = summarise(resultsDir, Number(rcText), Number(wallText));
  fs.writeFileSync(outFile, `${JSON.stringify(s, null, 2)}\n`);
  const verdict = s.failed === 0 ? "PASS" : "FAIL";
  process.stdout.write(
    `v2 VM tier ${verdict}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped on guest kernel ${s.kernel} in ${s.wallSeconds.toFixed(1)} s\n`,
  );
  if (s.error !== undefined) process.stdout.write(`v2 VM tier: ${s.error}\n`);
  for (const f of s.failures) process.stdout.write(`  not ok: ${f}\n`);
  return s.failed === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  process.exitCode = main(process.argv.slice(2));
}
