/**
 * The streamed render (small chunks, slices, each chunk encoded as the
 * server sends it) against the whole-text render and against a plain
 * one-line-per-series rendering written here, on a sizeable store: the
 * bytes must be identical, whatever the chunk and slice boundaries.
 */
import { describe, expect, it } from "vitest";
import { populate } from "../../bench/population.js";
import { formatValue } from "../../src/metrics/exposition.js";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.js";
import { renderChunks, renderToString } from "../../src/metrics/render.js";
import type { Store } from "../../src/metrics/store.js";

/** The exposition as a reader of the format would write it: no chunks, no slices, no pieces. Reads `hold` without clearing it. */
function reference(store: Store): string {
  let out = "";
  for (const family of store.families) {
    out += family.header;
    const name = family.def.name;
    for (const s of family.series.values()) {
      const h = s.histogram;
      if (h === null) {
        out += `${name}${s.labels} ${formatValue(s.hold ? 0 : s.value)}\n`;
        continue;
      }
      const inner = s.labels === "" ? "" : `${s.labels.slice(1, -1)},`;
      let cumulative = 0;
      family.leLabels.forEach((le, i) => {
        cumulative += h.counts[i] ?? 0;
        out += `${name}_bucket{${inner}${le}} ${formatValue(cumulative)}\n`;
      });
      out += `${name}_sum${s.labels} ${formatValue(h.sum)}\n${name}_count${s.labels} ${formatValue(h.count)}\n`;
    }
  }
  return out;
}

/** 2,000 v1 cgroups (54k series) plus what the populate helper leaves out: held counters, odd values, histograms, escaping. */
function sizeableMetrics(): Metrics {
  const metrics = createMetrics({ processMetrics: false, build: { version: "t" } });
  const paths = populate(metrics, 2000);
  metrics.addCgroup('odd/"quoted"\\back\nslash/é', { origin: "created", memory: 2, cpu: 2, pids: true });
  metrics.setMemoryEventCounters('odd/"quoted"\\back\nslash/é', { oom_kill: 3, max: NaN, high: 1e21 });
  metrics.setCpuCounters(paths[5] ?? "", { usageSeconds: 0.1 + 0.2, throttledSeconds: 5e-324 });
  metrics.addPolicy("p");
  for (let i = 0; i < 50; i++) metrics.recordPolicyEvaluation("p", "ok", i / 997);
  metrics.recordFileProblem("read", "memory.stat", "malformed");
  return metrics;
}

describe("streamed render", () => {
  it("chunks encoded one by one are byte-identical to the whole text and to a plain rendering", async () => {
    const metrics = sizeableMetrics();
    const expected = reference(metrics.store);
    const chunks: Buffer[] = [];
    let count = 0;
    for await (const chunk of renderChunks(metrics.store)) {
      chunks.push(Buffer.from(chunk, "utf8"));
      count++;
    }
    expect(count).toBeGreaterThan(10);
    expect(Buffer.concat(chunks).equals(Buffer.from(expected, "utf8"))).toBe(true);
    // The first render showed the held counters at 0; both renderers now show their values.
    const after = reference(metrics.store);
    expect(after).not.toBe(expected);
    expect(await renderToString(metrics.store, { sliceMs: Infinity, chunkChars: Infinity })).toBe(after);
  });

  it("any chunk size and slice boundary gives the same bytes", async () => {
    const metrics = sizeableMetrics();
    await metrics.render();
    const expected = reference(metrics.store);
    for (const chunkChars of [1, 100, 4096, 1 << 16, 1 << 22]) {
      let clock = 0;
      const text = await renderToString(metrics.store, { chunkChars, now: () => (clock += 0.4), sliceMs: 1 });
      expect(text, `chunkChars ${chunkChars}`).toBe(expected);
    }
  });
});
