/**
 * Rebuilds cgwatch's series in a fresh prom-client Registry, value for
 * value, so the benchmark and the exposition tests compare the two
 * renderers on identical data. Counters and gauges are exact; histograms
 * are replayed by observing each bucket's upper bound (enough for the cost
 * comparison; the exposition test drives histograms in parallel instead).
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { parseLabels } from "../test/helpers/parseExposition.js";
import type { Store } from "../src/metrics/store.js";

function labelsOf(text: string): Record<string, string> {
  return text === "" ? {} : parseLabels(text, 0).labels;
}

export function mirrorToPromClient(store: Store): Registry {
  const registry = new Registry();
  for (const family of store.families) {
    const { name, help, labelNames, type } = family.def;
    const common = { name, help, labelNames: [...labelNames], registers: [registry] };
    switch (type) {
      case "counter": {
        const c = new Counter(common);
        for (const s of family.series.values()) c.inc(labelsOf(s.labels), s.hold ? 0 : s.value);
        break;
      }
      case "gauge": {
        const g = new Gauge(common);
        for (const s of family.series.values()) g.set(labelsOf(s.labels), s.value);
        break;
      }
      case "histogram": {
        const h = new Histogram({ ...common, buckets: [...(family.def.buckets ?? [])] });
        const bounds = family.def.buckets ?? [];
        for (const s of family.series.values()) {
          const counts = s.histogram?.counts ?? new Float64Array();
          const labels = labelsOf(s.labels);
          counts.forEach((n, i) => {
            for (let k = 0; k < n; k++) h.observe(labels, bounds[i] ?? (bounds[bounds.length - 1] ?? 0) * 2);
          });
        }
        break;
      }
    }
  }
  return registry;
}
