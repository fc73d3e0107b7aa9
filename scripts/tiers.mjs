// The verdict code of `npm test` (scripts/test.mjs), kept apart so that a
// test can run it on probe files (test/scripts/tiers.test.ts).
//
// A TIER is a runner that writes one JSON result file:
//   {"passed": N, "failed": N, "skipped": N, "total": N?, ...anything else}
// `total`, when present, is how many tests the tier declares; running fewer
// is a failure (a runner cut short must not look green). To add a tier
// (containers, packaging, ...) append one object to the list in
// scripts/test.mjs:
//
//   { name: "containers", cmd: "bash", args: ["test/containers/run.sh"],
//     runner: "test/containers/run.sh",           // must exist; missing = failure in CI
//     resultFile: "test-results/containers.json", // deleted before the run
//     minTests: 5,                                 // optional floor on tests run
//     skipReason: null }                           // a string = skipped on purpose (failure in CI)
//
// or call runTier(tier, { inCi }) yourself: it never throws, and returns
// { name, passed, failed, skipped, notes, seconds }. A tier whose result
// file is missing or malformed, whose runner exited non-zero with no failed
// test, that ran no test, fewer than it declares, or skipped tests in CI,
// gets failures counted. runAll(tiers) prints every tier and ends with the
// one line CI reads, `N passed, N failed`, whatever happened before it.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

const isCount = (v) => Number.isInteger(v) && v >= 0;

/**
 * Reads a tier's result file: {kind: "ok", counts} or {kind: "error", reason},
 * never throws. `parse` turns the parsed JSON into counts (default: the
 * generic {passed, failed, skipped, total?} shape).
 */
export function readResultFile(file, parse = genericCounts) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    return { kind: "error", reason: `no result file ${path.relative(root, file)} (${err.code ?? err.message})` };
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { kind: "error", reason: `result file ${path.relative(root, file)} is not JSON: ${err.message}` };
  }
  try {
    return { kind: "ok", counts: parse(json) };
  } catch (err) {
    return { kind: "error", reason: `result file ${path.relative(root, file)} is malformed: ${err.message}` };
  }
}

/** The generic tier result; throws on anything that is not a count. */
export function genericCounts(json) {
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new Error("not a JSON object");
  for (const k of ["passed", "failed"])
    if (!isCount(json[k])) throw new Error(`"${k}" is ${JSON.stringify(json[k])}, not a count`);
  const skipped = json.skipped ?? 0;
  if (!isCount(skipped)) throw new Error(`"skipped" is ${JSON.stringify(json.skipped)}, not a count`);
  if (json.total !== undefined && !isCount(json.total))
    throw new Error(`"total" is ${JSON.stringify(json.total)}, not a count`);
  const notes = typeof json.error === "string" ? [json.error] : [];
  return { passed: json.passed, failed: json.failed, skipped, total: json.total ?? null, notes };
}

/**
 * vitest's JSON report as tier counts. A file that failed outside any test
 * (a hook that threw, an import that failed, no test in it) has no failed
 * test in the report: it counts as one failure. So does `success: false`
 * with no failed test. Unhandled errors are not in the report at all: only
 * the exit status says so, which verdict() checks.
 */
export function vitestCounts(json) {
  if (json === null || typeof json !== "object") throw new Error("not a JSON object");
  for (const k of ["numTotalTests", "numPassedTests", "numFailedTests"])
    if (!isCount(json[k])) throw new Error(`"${k}" is ${JSON.stringify(json[k])}, not a count`);
  if (!Array.isArray(json.testResults)) throw new Error('"testResults" is not an array');
  let failed = json.numFailedTests;
  const notes = [];
  for (const file of json.testResults) {
    const tests = Array.isArray(file?.assertionResults) ? file.assertionResults : [];
    if (file?.status === "failed" && !tests.some((t) => t?.status === "failed")) {
      failed++;
      notes.push(
        `${path.relative(root, String(file?.name))} failed outside its tests: ${String(file?.message ?? "").split("\n")[0] || "no message"}`,
      );
    }
  }
  if (json.success === false && failed === 0) {
    failed++;
    notes.push("vitest's report says success: false with no failed test");
  }
  const skipped =
    (isCount(json.numPendingTests) ? json.numPendingTests : 0) + (isCount(json.numTodoTests) ? json.numTodoTests : 0);
  // `ran` is what the report counted, before the failures added above.
  const ran = json.numPassedTests + json.numFailedTests + skipped;
  return { passed: json.numPassedTests, failed, skipped, total: json.numTotalTests, ran, notes };
}

/**
 * The tier's verdict from its counts and its runner's exit status. Pure.
 * Never lowers `failed`; only adds the failures the counts hid.
 */
export function verdict(counts, exitCode, { inCi = false, minTests = 0 } = {}) {
  let failed = counts.failed;
  const notes = [...counts.notes];
  const ran = counts.ran ?? counts.passed + counts.failed + counts.skipped;
  if (exitCode !== 0 && counts.failed === 0) {
    failed++;
    notes.push(`the runner exited ${exitCode} although no test failed (unhandled error, hook, timeout?)`);
  }
  if (counts.total !== null && ran < counts.total) {
    failed += counts.total - ran;
    notes.push(`ran ${ran} of the ${counts.total} tests it declares`);
  }
  if (ran < minTests) {
    failed += minTests - ran;
    notes.push(`ran ${ran} tests, fewer than the ${minTests} this tier must run`);
  }
  if (counts.skipped > 0) {
    notes.push(`${counts.skipped} test(s) skipped${inCi ? ": a failure in CI" : ""}`);
    if (inCi) failed += counts.skipped;
  }
  if (counts.passed + failed === 0) {
    failed = 1;
    notes.push("no test passed or failed: a tier that proved nothing is not green");
  }
  return { passed: counts.passed, failed, skipped: counts.skipped, notes };
}

/** Runs a command; the exit status, or 1 (with the reason) when it could not run or was killed. */
function runCommand(cmd, args, { env = process.env, timeoutMs, stdio = "inherit" } = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio, env, ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }) });
  if (r.error) return { exitCode: 1, why: `could not run ${cmd}: ${r.error.message}` };
  if (r.status === null) return { exitCode: 1, why: `${cmd} was killed by ${r.signal}` };
  return { exitCode: r.status, why: null };
}

/**
 * Runs one tier and reads its result file. Never throws.
 * tier: { name, cmd, args, runner?, resultFile?, parse?, minTests?, skipReason?, env?, timeoutMs?, stdio? }
 * Without resultFile the exit status is the result: 1 passed or 1 failed (build, lint).
 */
export function runTier(tier, { inCi = false } = {}) {
  const t0 = Date.now();
  const done = (r) => ({ name: tier.name, ...r, seconds: (Date.now() - t0) / 1000 });
  try {
    if (tier.runner !== undefined && !fs.existsSync(path.resolve(root, tier.runner))) {
      const note = `runner ${tier.runner} is missing${inCi ? ": a failure in CI" : ": NOT RUN"}`;
      return done({ passed: 0, failed: inCi ? 1 : 0, skipped: 0, notRun: !inCi, notes: [note] });
    }
    if (typeof tier.skipReason === "string") {
      const note = `skipped: ${tier.skipReason}${inCi ? ": a failure in CI" : ""}`;
      return done({ passed: 0, failed: inCi ? 1 : 0, skipped: 0, notRun: !inCi, notes: [note] });
    }
    const resultFile = tier.resultFile === undefined ? null : path.resolve(root, tier.resultFile);
    if (resultFile !== null) fs.rmSync(resultFile, { force: true });
    if ((tier.stdio ?? "inherit") === "inherit")
      process.stdout.write(`\n=== ${tier.name}: ${tier.cmd} ${tier.args.join(" ")}\n`);
    const { exitCode, why } = runCommand(tier.cmd, tier.args, tier);
    const pre = why === null ? [] : [why];
    if (resultFile === null)
      return done({ passed: exitCode === 0 ? 1 : 0, failed: exitCode === 0 ? 0 : 1, skipped: 0, notes: pre });
    const read = readResultFile(resultFile, tier.parse);
    if (read.kind === "error") return done({ passed: 0, failed: 1, skipped: 0, notes: [...pre, read.reason] });
    const v = verdict(read.counts, exitCode, { inCi, minTests: tier.minTests ?? 0 });
    return done({ ...v, notes: [...pre, ...v.notes] });
  } catch (err) {
    return done({ passed: 0, failed: 1, skipped: 0, notes: [`the tier crashed the runner: ${err?.stack ?? err}`] });
  }
}

/** The vitest tier: `vitest run` with its JSON report, judged by vitestCounts + verdict. */
export function vitestTier({
  name = "vitest",
  args = [],
  resultFile = "test-results/vitest.json",
  env,
  timeoutMs,
  stdio,
} = {}) {
  return {
    name,
    cmd: "npx",
    args: [
      "vitest",
      "run",
      "--reporter=default",
      "--reporter=json",
      `--outputFile.json=${path.resolve(root, resultFile)}`,
      ...args,
    ],
    resultFile,
    parse: vitestCounts,
    ...(env === undefined ? {} : { env }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(stdio === undefined ? {} : { stdio }),
  };
}

/**
 * Totals over the tiers' results. `0 passed, 0 failed` is a failure: a run
 * that proved nothing is not green.
 */
export function summarize(results) {
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    passed += r.passed;
    failed += r.failed;
  }
  const lines = [""];
  for (const r of results) {
    const mark = r.failed > 0 ? "FAIL" : r.notRun ? "N/R " : "ok  ";
    lines.push(
      `  ${mark} ${r.name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (${r.seconds.toFixed(1)} s)`,
    );
    for (const n of r.notes) lines.push(`         ${n}`);
  }
  if (passed + failed === 0) {
    failed = 1;
    lines.push("  no tier ran a test: counting the run as failed");
  }
  lines.push(`${passed} passed, ${failed} failed`);
  return { passed, failed, exitCode: failed === 0 ? 0 : 1, lines };
}

/** Runs every tier in order (a crash in one is that tier's failure) and prints the summary; returns the exit code. */
export function runAll(tiers, { inCi = process.env.CI === "true", write = (s) => process.stdout.write(s) } = {}) {
  const results = tiers.map((t) => runTier(t, { inCi }));
  const s = summarize(results);
  write(`${s.lines.join("\n")}\n`);
  return s.exitCode;
}
