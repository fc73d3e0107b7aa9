/**
 * Our renderer against prom-client's on identical values: both outputs are
 * parsed and must carry the same families (HELP, TYPE) and the same samples
 * with the same values, including label values that need escaping. Also:
 * slicing (yielding mid-family) must not change a byte.
 */
import fc from "fast-check";
import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { mirrorToPromClient } from "../../bench/promClientMirror.js";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.js";
import { parseExposition, sampleKey, type ParsedExposition } from "../helpers/parseExposition.js";
import { renderToString } from "../../src/metrics/render.js";
import { Store, observe } from "../../src/metrics/store.js";
import { populate } from "../../bench/population.js";

function samplesByKey(p: ParsedExposition): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of p.samples) {
    const k = sampleKey(s);
    expect(m.has(k), `duplicate sample ${k}`).toBe(false);
    m.set(k, s.value);
  }
  return m;
}

function expectSameExposition(ours: string, theirs: string): void {
  const a = parseExposition(ours);
  const b = parseExposition(theirs);
  expect([...a.type.entries()].sort()).toEqual([...b.type.entries()].sort());
  expect([...a.help.entries()].sort()).toEqual([...b.help.entries()].sort());
  const sa = samplesByKey(a);
  const sb = samplesByKey(b);
  // prom-client always shows a label-less gauge, at 0 before any set(); we
  // show nothing until there is a value (a heartbeat timestamp of 0 would
  // claim a beat in 1970). That is the one allowed difference.
  for (const [k, v] of sb) {
    if (!sa.has(k) && k.endsWith("{}") && v === 0 && !a.samples.some((x) => x.name === k.slice(0, -2))) sb.delete(k);
  }
  expect([...sa.keys()].sort()).toEqual([...sb.keys()].sort());
  for (const [k, v] of sa) expect(Object.is(v, sb.get(k)) || v === sb.get(k), `${k}: ${v} vs ${sb.get(k)}`).toBe(true);
}

/** Label values that exercise escaping: quotes, backslashes, newlines, non-ASCII. */
const labelValue = fc.oneof(
  fc.constantFrom("docker/abc", 'we"ird', "back\\slash", "new\nline", "ünïcödé/ßü", "", "\\n literally"),
  fc.string({ unit: "binary", maxLength: 12 }),
);
const value = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 53 - 1 }),
  fc.double({ min: 0, max: 1e300, noNaN: true }),
  fc.constantFrom(0, 0.1, 1e-9, 1e21),
);

function fill(metrics: Metrics, cgroups: readonly string[], values: readonly number[]): void {
  cgroups.forEach((cg, i) => {
    const v = values[i % values.length] ?? 0;
    metrics.addCgroup(cg, { origin: "startup", memory: 2, cpu: 2, pids: true });
    metrics.setMemoryEventCounters(cg, { low: v, high: v + 1, max: 2, oom: 0, oom_kill: v, oom_group_kill: 0 });
    metrics.setCpuCounters(cg, { usageSeconds: v / 3, periods: v, throttledPeriods: 0, throttledSeconds: v * 1e-6 });
    metrics.setPressureCounters(cg, "memory", { some: v / 7, full: v / 11 });
    metrics.setIoCounters(cg, [{ device: "259:0", readBytes: v, writeOps: 3 }]);
  });
}

describe("exposition: our renderer vs prom-client on the same values", () => {
  it("agrees on every family and sample, escapes included (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(labelValue, { minLength: 1, maxLength: 8 }),
        fc.array(value, { minLength: 1, maxLength: 8 }),
        async (cgroups, values) => {
          const metrics = createMetrics({ processMetrics: false, build: { version: 'v"1\\', revision: "abc" } });
          fill(metrics, cgroups, values);
          metrics.addPolicy('pol"icy');
          metrics.recordPolicyQuarantine('pol"icy', true);
          metrics.setNotifierFallback("psi", true);
          const theirs = await mirrorToPromClient(metrics.store).metrics();
          expectSameExposition(await metrics.render(), theirs);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("renders a realistic 200-cgroup population exactly as prom-client does", async () => {
    const metrics = createMetrics({ processMetrics: false, build: { version: "t" } });
    populate(metrics, 200);
    // Mirror first: our render records its own duration when it ends.
    const theirs = await mirrorToPromClient(metrics.store).metrics();
    const ours = await metrics.render();
    expectSameExposition(ours, theirs);
    // 27 series per v1 cgroup in this population, plus the watchdog's own.
    expect(parseExposition(ours).samples.filter((s) => s.labels["cgroup"] !== undefined).length).toBe(200 * 27);
  });

  it("histograms: buckets cumulative, le last, +Inf, _sum and _count as prom-client", async () => {
    const store = new Store();
    const buckets = [0.001, 0.01, 0.1, 1];
    const fam = store.define({
      name: "x_seconds",
      help: "h\\elp\nline",
      type: "histogram",
      labelNames: ["policy"],
      buckets,
    });
    const registry = new Registry();
    const h = new Histogram({
      name: "x_seconds",
      help: "h\\elp\nline",
      labelNames: ["policy"],
      buckets,
      registers: [registry],
    });
    const observations: Array<[string, number]> = [
      ["a", 0.0005],
      ["a", 0.001],
      ["a", 0.05],
      ["b", 3],
      ["a", 1],
      ["b", 0.2],
      ['c"', 0],
    ];
    for (const [p, v] of observations) {
      observe(fam.get([p]), v);
      h.observe({ policy: p }, v);
    }
    const ours = await renderToString(store);
    expectSameExposition(ours, await registry.metrics());
    expect(ours).toContain('x_seconds_bucket{policy="a",le="0.001"} 2\n');
    expect(ours).toContain('x_seconds_bucket{policy="b",le="+Inf"} 2\n');
  });

  it("slicing: a render that yields every 256 series is byte-identical to one that never yields", async () => {
    const metrics = createMetrics({ processMetrics: false, build: { version: "t" } });
    populate(metrics, 300);
    let clock = 0;
    let yields = 0;
    const sliced = await renderToString(metrics.store, {
      now: () => (clock += 10),
      sliceMs: 1,
      yieldToLoop: () => {
        yields++;
        return new Promise((r) => setImmediate(r));
      },
    });
    const whole = await renderToString(metrics.store, { sliceMs: Infinity, chunkChars: Infinity });
    expect(yields).toBeGreaterThan(20);
    expect(sliced).toBe(whole);
  });

  it("a cgroup removed and re-added while a render is between slices appears once", async () => {
    const metrics = createMetrics({ processMetrics: false, build: { version: "t" } });
    const paths = populate(metrics, 600);
    const victim = paths[0] ?? "";
    let clock = 0;
    let churned = false;
    const text = await renderToString(metrics.store, {
      now: () => (clock += 10),
      sliceMs: 1,
      yieldToLoop: async () => {
        if (!churned) {
          churned = true;
          metrics.removeCgroup(victim);
          metrics.addCgroup(victim, { origin: "created", memory: 1, cpu: 1 });
          metrics.setCgroupState(victim, { path: victim, labels: {}, memory: null, cpu: null, pids: null });
        }
        await new Promise((r) => setImmediate(r));
      },
    });
    expect(churned).toBe(true);
    samplesByKey(parseExposition(text)); // throws on a duplicate series
  });
});
