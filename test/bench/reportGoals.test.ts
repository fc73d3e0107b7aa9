/**
 * BENCHMARKS.md's goal verdicts: each row judges the figure it names, at its
 * threshold (boundary included), and a goal whose section the results lack
 * says so instead of judging an empty figure.
 */
import { describe, expect, it } from "vitest";
import { goalRows, renderGoals, type GoalResults, type GoalRow } from "../../bench/reportGoals.js";
import type { RunRecord } from "../../bench/run.js";

const rec = <T>(result: T): RunRecord<T> => ({
  result,
  seconds: 1,
  loadBefore: "0.1 0.1 0.1",
  loadAfter: "0.1 0.1 0.1",
});
const dist = (p99Ms: number) => ({ n: 300, p50: p99Ms * 300, p90: p99Ms * 600, p99: p99Ms * 1000, max: p99Ms * 2000 });

/** Three runs of each section, with the medians given. */
function results(o: {
  echoP99: number;
  p99: number;
  scrapedP99: number;
  rssMb: number;
  readyMs: number;
  idle: number;
  renderCpuMs?: number;
  renderWallMs: number;
  oomMs: number[];
  mismatches: number;
}): GoalResults {
  const latency = { echo: dist(o.echoP99), cgwatch: dist(o.p99), scraped: dist(o.scrapedP99) };
  const startup = { readyMs: o.readyMs, rssMb: o.rssMb, idleCpuPercent: o.idle };
  const stream = { renderMs: o.renderWallMs, cpuMs: o.renderCpuMs, series: 270038, bytes: 1, maxLoopGapMs: 2 };
  const metrics = { scales: [{ cgroups: 10000, cgwatchStream: stream, httpMaxLoopGapMs: 3 }] };
  const three = <T>(x: T): RunRecord<T>[] => [rec(x), rec(x), rec(x)];
  return {
    latency: { "10000": three(latency) },
    startup: { "10000": three(startup) },
    storm: three({ mismatches: o.mismatches }),
    metrics: three(metrics),
    realOom: [rec({ wakeToActionMs: o.oomMs })],
  } as unknown as GoalResults;
}

const verdicts = (rows: GoalRow[]): string[] => rows.map((r) => r.verdict);

describe("goal rows", () => {
  it("every goal of issues 8 and 17 has a row, each at its threshold met and just past it not met", () => {
    const atThreshold = results({
      echoP99: 1,
      p99: 1.4,
      scrapedP99: 2.8,
      rssMb: 150,
      readyMs: 1000,
      idle: 0.99,
      renderCpuMs: 100,
      renderWallMs: 300,
      oomMs: [1, 2, 9],
      mismatches: 0,
    });
    const rows = goalRows(atThreshold);
    expect(rows.map((r) => r.goal)).toEqual([
      expect.stringMatching(/3× the echo/),
      expect.stringMatching(/1\/100 of the fastest peer/),
      expect.stringMatching(/Idle CPU/),
      expect.stringMatching(/storm/),
      expect.stringMatching(/scraped.*≤ 2×/),
      expect.stringMatching(/RSS.*150 MB/),
      expect.stringMatching(/ready.*1 s/),
      expect.stringMatching(/render.*270k series.*100 ms/),
      expect.stringMatching(/OOM.*≤ 2 ms/),
    ]);
    expect(verdicts(rows)).toEqual(Array(9).fill("met"));
    // The render is judged on CPU when the run has it, whatever its wall time.
    expect(rows[7]?.figure).toMatch(/^100\.0 \[100\.0–100\.0\] ms of process CPU for 270038/);

    const pastIt = results({
      echoP99: 1,
      p99: 3.01,
      scrapedP99: 6.03,
      rssMb: 150.1,
      readyMs: 1001,
      idle: 1,
      renderCpuMs: 100.1,
      renderWallMs: 50,
      oomMs: [1, 2.01, 9],
      mismatches: 1,
    });
    expect(verdicts(goalRows(pastIt))).toEqual(Array(9).fill("not met"));
  });

  it("results from before the CPU figure existed are judged on the render's wall time, and say so", () => {
    const old = results({
      echoP99: 1,
      p99: 1,
      scrapedP99: 1,
      rssMb: 1,
      readyMs: 1,
      idle: 0,
      renderWallMs: 117.2,
      oomMs: [1],
      mismatches: 0,
    });
    const render = goalRows(old)[7];
    expect(render?.verdict).toBe("not met");
    expect(render?.figure).toMatch(/^117\.2 .* ms wall time \(this run recorded no CPU figure\)/);
  });

  it("a section absent from the results is not measured, not judged", () => {
    expect(verdicts(goalRows({}))).toEqual(Array(9).fill("not measured in this run"));
    const full = results({
      echoP99: 1,
      p99: 1,
      scrapedP99: 1,
      rssMb: 1,
      readyMs: 1,
      idle: 0,
      renderCpuMs: 1,
      renderWallMs: 1,
      oomMs: [1],
      mismatches: 0,
    });
    const onlyMetrics: GoalResults = {
      metrics: full.metrics ?? [],
      latency: { "1000": full.latency?.["10000"] ?? [] },
    };
    expect(verdicts(goalRows(onlyMetrics))).toEqual([
      ...Array<string>(7).fill("not measured in this run"),
      "met",
      "not measured in this run",
    ]);
    const lines: string[] = [];
    renderGoals({}, (s = "") => lines.push(s));
    expect(lines).toContain(
      "| 6 | RSS at 10k cgroups with the shipped policies ≤ 150 MB | — | **not measured in this run** |",
    );
  });
});
