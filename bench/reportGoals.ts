/**
 * The "Goals" section of BENCHMARKS.md: each goal of the speed issues
 * (issue 8's four, issue 17's at 10,000 cgroups) with the figure it is
 * judged on and a verdict computed from the same results, so the text can
 * never claim what the run did not show. A goal whose section is absent from
 * the results (a partial run, or `--merge` into results.json from before
 * the section existed) says "not measured in this run" instead of judging
 * an empty figure.
 */
import { spread, type Spread } from "./common.js";
import type { RunRecord, Results } from "./run.js";

/** What the goals read; every part may be missing. */
export type GoalResults = Partial<Pick<Results, "latency" | "startup" | "storm" | "metrics" | "realOom">>;

export type Verdict = "met" | "not met" | "not measured in this run";

export interface GoalRow {
  readonly goal: string;
  /** The measured figure and how it was taken (median [min–max] over runs). */
  readonly figure: string;
  readonly verdict: Verdict;
}

/** The fastest peer interval: systemd-oomd's swap check. */
const FASTEST_PEER_MS = 150;

const f = (s: Spread, d = 2): string => `${s.median.toFixed(d)} [${s.min.toFixed(d)}–${s.max.toFixed(d)}]`;
const over = <T>(runs: readonly RunRecord<T>[] | undefined, pick: (x: T) => number): Spread =>
  spread((runs ?? []).map((r) => pick(r.result)));

/** A row judged on `s` (median over runs unless `ok` says otherwise); absent data is "not measured". */
function row(goal: string, s: Spread, figure: () => string, ok: (s: Spread) => boolean): GoalRow {
  if (s.runs === 0) return { goal, figure: "—", verdict: "not measured in this run" };
  return { goal, figure: figure(), verdict: ok(s) ? "met" : "not met" };
}

/** Issue 8's goals: latency against the echo and the peers, idle cost, storm exactness. */
function firstGoals(r: GoalResults): GoalRow[] {
  const at10k = r.latency?.["10000"];
  const ratio = over(at10k, (x) => x.cgwatch.p99 / x.echo.p99);
  const p99 = over(at10k, (x) => x.cgwatch.p99 / 1000);
  const idle = over(r.startup?.["10000"], (x) => x.idleCpuPercent);
  const mism = over(r.storm, (x) => x.mismatches);
  return [
    row(
      "Event → action p99 at 10,000 cgroups ≤ 3× the echo's, same run",
      ratio,
      () =>
        `ratio ${f(ratio)} (median run${ratio.max <= 3 ? ", and every run" : `; worst run ${ratio.max.toFixed(2)}`})`,
      (s) => s.median <= 3,
    ),
    row(
      `Event → action p99 at 10k under 1/100 of the fastest peer's interval (systemd-oomd ${FASTEST_PEER_MS} ms → ${FASTEST_PEER_MS / 100} ms)`,
      p99,
      () =>
        `p99 ${f(p99, 3)} ms, p50 ${f(
          over(at10k, (x) => x.cgwatch.p50 / 1000),
          3,
        )} ms; ${(1000 / p99.median).toFixed(0)}×–${(10000 / p99.median).toFixed(0)}× shorter than oomd (1–5 s), koordinator (1 s), kubelet (10 s)`,
      (s) => s.median < FASTEST_PEER_MS / 100,
    ),
    row(
      "Idle CPU at 10k cgroups < 1 % of one core",
      idle,
      () => `${f(idle)} % over the idle window`,
      (s) => s.median < 1,
    ),
    row(
      "Event storm: nothing lost or double-counted (every run)",
      mism,
      () => `${f(mism, 0)} of 60,000 series differ from disk`,
      (s) => s.max === 0,
    ),
  ];
}

/** Issue 17's goals at 10,000 cgroups beyond the first four. */
function scaleGoals(r: GoalResults): GoalRow[] {
  const at10k = r.latency?.["10000"];
  const scraped = over(at10k, (x) => x.scraped.p99 / x.cgwatch.p99);
  const start10k = r.startup?.["10000"];
  const rss = over(start10k, (x) => x.rssMb);
  const ready = over(start10k, (x) => x.readyMs);
  const scale = (x: Results["metrics"][number]["result"]) => x.scales.find((s) => s.cgroups === 10000);
  // CPU when the run recorded it (the goal's measure), the wall time of the render otherwise.
  const hasCpu = (r.metrics ?? []).some((x) => scale(x.result)?.cgwatchStream.cpuMs !== undefined);
  const render = over(r.metrics, (x) => {
    const s = scale(x)?.cgwatchStream;
    return (hasCpu ? s?.cpuMs : s?.renderMs) ?? NaN;
  });
  const oom = spread((r.realOom ?? []).flatMap((x) => x.result.wakeToActionMs));
  return [
    row(
      "Event → action p99 at 10k while /metrics is scraped back to back ≤ 2× the unscraped p99, same run",
      scraped,
      () =>
        `ratio ${f(scraped)} (scraped p99 ${f(
          over(at10k, (x) => x.scraped.p99 / 1000),
          3,
        )} ms)`,
      (s) => s.median <= 2,
    ),
    row(
      "RSS at 10k cgroups with the shipped policies ≤ 150 MB",
      rss,
      () => `${f(rss, 1)} MB after the first publisher pass`,
      (s) => s.median <= 150,
    ),
    row(
      "Time to ready at 10k cgroups ≤ 1 s",
      ready,
      () => `${f(ready, 0)} ms`,
      (s) => s.median <= 1000,
    ),
    row(
      "/metrics render of 10k cgroups (270k series) ≤ 100 ms of CPU, sliced",
      render,
      () =>
        `${f(render, 1)} ms ${hasCpu ? "of process CPU" : "wall time (this run recorded no CPU figure)"} for ${f(
          over(r.metrics, (x) => scale(x)?.cgwatchStream.series ?? NaN),
          0,
        )} series; longest loop stall during a scrape ${f(over(r.metrics, (x) => scale(x)?.httpMaxLoopGapMs ?? NaN))} ms`,
      (s) => s.median <= 100,
    ),
    row(
      "Real cgroup v1 OOM: eventfd wake → action applied ≤ 2 ms",
      oom,
      () => `${f(oom, 3)} ms over ${oom.runs} OOMs`,
      (s) => s.median <= 2,
    ),
  ];
}

/** Every goal, numbered in this order in BENCHMARKS.md. */
export function goalRows(r: GoalResults): GoalRow[] {
  return [...firstGoals(r), ...scaleGoals(r)];
}

export function renderGoals(r: GoalResults, p: (s?: string) => void): void {
  p("## Goals");
  p();
  p("Each verdict is on the median over runs (the storm on every run), computed from the figures above.");
  p();
  p("| # | goal | measured | verdict |");
  p("|---:|---|---|---|");
  for (const [i, g] of goalRows(r).entries()) p(`| ${i + 1} | ${g.goal} | ${g.figure} | **${g.verdict}** |`);
  p();
}
