/**
 * The verdict of `npm test` (scripts/tiers.mjs) is itself tested: each probe
 * file under test/fixtures/probes breaks vitest in one way that no failed
 * test shows, and running it through the same code `npm test` uses must be
 * red. Result files and runners are broken on purpose the same way.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  genericCounts,
  readResultFile,
  runAll,
  runTier,
  summarize,
  verdict,
  vitestCounts,
  vitestTier,
  type TierResult,
} from "../../scripts/tiers.mjs";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-tiers-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The nested vitest must not think it is a worker of this one. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "NODE_OPTIONS" && k !== "TEST"),
  );

function probe(name: string, inCi = false): TierResult {
  const tier = vitestTier({
    name,
    args: ["--config", "test/fixtures/probes/vitest.config.ts", `${name}.probe.ts`],
    resultFile: path.join(tmp, `${name}.json`),
    env: cleanEnv(),
    timeoutMs: 120_000,
    stdio: "pipe",
  });
  return runTier(tier, { inCi });
}

describe("vitest probes through npm test's verdict", () => {
  it("the control probe (one passing test) is green: the red ones are red for what they break", () => {
    const r = probe("pass");
    expect(r).toMatchObject({ passed: 1, failed: 0 });
    expect(summarize([r]).exitCode).toBe(0);
  }, 120_000);

  it.each([
    ["afterAll-throws", /failed outside its tests: probe: afterAll throws/],
    ["beforeAll-throws", /failed outside its tests: probe: beforeAll throws/],
    ["timer-expect", /exited 1 although no test failed/],
    ["unhandled-rejection", /exited 1 although no test failed/],
    ["load-error", /failed outside its tests: probe: this file does not load/],
    ["no-tests", /No test suite found/],
  ])(
    "%s makes the run red",
    (name, why) => {
      const r = probe(name);
      expect(r.failed).toBeGreaterThan(0);
      expect(r.notes.join("\n")).toMatch(why);
      const s = summarize([r]);
      expect(s.exitCode).toBe(1);
      expect(s.lines.at(-1)).toMatch(/^\d+ passed, [1-9]\d* failed$/);
    },
    120_000,
  );

  it("a skipped test is tolerated outside CI and a failure in CI", () => {
    expect(probe("skipped", false)).toMatchObject({ passed: 1, failed: 0, skipped: 1 });
    expect(probe("skipped", true)).toMatchObject({ passed: 1, failed: 1, skipped: 1 });
  }, 240_000);
});

/** A tier whose runner writes `content` as its result file and exits with `code`. */
function fakeTier(name: string, content: string | null, code = 0, extra: Record<string, unknown> = {}) {
  const resultFile = path.join(tmp, `${name}.json`);
  const script = `${content === null ? "" : `require("fs").writeFileSync(${JSON.stringify(resultFile)}, ${JSON.stringify(content)});`} process.exit(${code});`;
  return { name, cmd: process.execPath, args: ["-e", script], resultFile, stdio: "pipe" as const, ...extra };
}

describe("tier result files", () => {
  it("a clean result file with a zero exit is green", () => {
    expect(runTier(fakeTier("clean", '{"passed":3,"failed":0,"skipped":0}'))).toMatchObject({ passed: 3, failed: 0 });
  });

  it.each([
    ["truncated JSON", '{"passed": 3, "fai'],
    ["not an object", "null"],
    ["a count as a string", '{"passed":"3","failed":0}'],
    ["a negative count", '{"passed":3,"failed":-1}'],
    ["no failed key", '{"passed":3}'],
  ])("a malformed result file (%s) is one failure, with the reason, and no crash", (_what, content) => {
    const r = runTier(fakeTier("malformed", content));
    expect(r.failed).toBe(1);
    expect(r.notes.join("\n")).toMatch(/result file .* (is not JSON|is malformed)/);
  });

  it("a missing result file is a failure", () => {
    expect(runTier(fakeTier("missing", null)).notes.join("\n")).toMatch(/no result file/);
    expect(runTier(fakeTier("missing", null)).failed).toBe(1);
  });

  it("a non-zero exit with no failed test is a failure", () => {
    expect(runTier(fakeTier("exit", '{"passed":3,"failed":0}', 2))).toMatchObject({ passed: 3, failed: 1 });
  });

  it("a tier that ran fewer tests than it declares (total) or than its floor (minTests) fails by the shortfall", () => {
    expect(runTier(fakeTier("short", '{"passed":3,"failed":0,"total":5}'))).toMatchObject({ passed: 3, failed: 2 });
    expect(runTier(fakeTier("floor", '{"passed":3,"failed":0}', 0, { minTests: 10 }))).toMatchObject({
      passed: 3,
      failed: 7,
    });
  });

  it("a tier that passed and failed nothing is not green", () => {
    expect(runTier(fakeTier("empty", '{"passed":0,"failed":0,"skipped":4}')).failed).toBe(1);
  });

  it("a missing runner is NOT RUN outside CI and a failure in CI; so is a skip on purpose", () => {
    const t = { ...fakeTier("vm", '{"passed":1,"failed":0}'), runner: "test/no-such-runner.sh" };
    expect(runTier(t, { inCi: false })).toMatchObject({ failed: 0, notRun: true });
    expect(runTier(t, { inCi: true })).toMatchObject({ failed: 1 });
    const skipped = { ...fakeTier("vm", '{"passed":1,"failed":0}'), skipReason: "CGWATCH_SKIP_VM=1" };
    expect(runTier(skipped, { inCi: false }).failed).toBe(0);
    expect(runTier(skipped, { inCi: true }).failed).toBe(1);
  });

  it("a runner that cannot be spawned, or a parser that throws, is that tier's failure", () => {
    expect(runTier({ name: "nope", cmd: "/nonexistent/runner", args: [], stdio: "pipe" }).failed).toBe(1);
    const crashing = {
      ...fakeTier("crash", '{"passed":1,"failed":0}'),
      parse: (): never => {
        throw new TypeError("boom");
      },
    };
    expect(runTier(crashing).notes.join("\n")).toMatch(/malformed: boom/);
  });
});

describe("the summary line", () => {
  it("is always last, and `0 passed, 0 failed` exits non-zero", () => {
    const out: string[] = [];
    const code = runAll(
      [
        { name: "nothing", cmd: "/nonexistent", args: [], runner: "test/no-such-runner.sh", stdio: "pipe" },
        fakeTier("malformed", "{"),
      ],
      { inCi: false, write: (s) => out.push(s) },
    );
    expect(code).toBe(1);
    expect(out.join("").trimEnd().split("\n").at(-1)).toBe("0 passed, 1 failed");
    expect(summarize([{ name: "none", passed: 0, failed: 0, skipped: 0, notes: [], seconds: 0 }])).toMatchObject({
      passed: 0,
      failed: 1,
      exitCode: 1,
    });
  });

  it("the pure parts: vitest's report and the generic shape", () => {
    const report = {
      numTotalTests: 2,
      numPassedTests: 1,
      numFailedTests: 0,
      numPendingTests: 0,
      numTodoTests: 0,
      success: false,
      testResults: [{ name: "x.test.ts", status: "passed", message: "", assertionResults: [{ status: "passed" }] }],
    };
    // success:false alone is a failure; and 1 of 2 declared tests ran.
    expect(verdict(vitestCounts(report), 0)).toMatchObject({ passed: 1, failed: 2 });
    expect(() => vitestCounts({ numPassedTests: 1 })).toThrow(/numTotalTests/);
    expect(() => genericCounts([])).toThrow(/not a JSON object/);
    expect(readResultFile(path.join(tmp, "absent.json"))).toMatchObject({ kind: "error" });
  });
});
