/**
 * Renders a Store as Prometheus text, in slices that yield to the event loop.
 * A scrape of 10k cgroups is hundreds of thousands of lines; rendered in one
 * go it would hold every eventfd/inotify callback for its whole duration. So
 * the renderer works for at most `sliceMs`, then waits one setImmediate turn
 * (I/O callbacks run in between) and carries on where it stopped.
 *
 * Consistency: each family's series list is copied when the renderer
 * reaches it, so a cgroup removed and re-added mid-scrape cannot appear
 * twice; values are read live (a scrape is not an atomic snapshot in
 * Prometheus' model either).
 */
import { formatValue } from "./exposition.js";
import type { Family, Series, Store } from "./store.js";

export interface RenderOptions {
  /** Longest stretch of synchronous work before yielding, ms. */
  readonly sliceMs?: number;
  /** Emit a chunk at least this often (bytes, approximately), to bound memory when streaming. */
  readonly chunkChars?: number;
  /** Monotonic clock, injectable for tests. */
  readonly now?: () => number;
  /** How to yield; setImmediate by default. */
  readonly yieldToLoop?: () => Promise<void>;
}

const defaultYield = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** How many series between two clock reads: reading the clock per line would cost more than the line. */
const CLOCK_EVERY = 256;

function renderScalar(name: string, s: Series): string {
  const v = s.hold ? 0 : s.value;
  // Shown once: from the next scrape on, the real value is exposed.
  s.hold = false;
  return `${name}${s.labels} ${formatValue(v)}\n`;
}

function renderHistogram(family: Family, s: Series): string {
  const h = s.histogram;
  if (h === null) return "";
  const name = family.def.name;
  // Label text is `{a="x"}` or ""; `le` goes last, as prom-client does.
  const inner = s.labels === "" ? "" : `${s.labels.slice(1, -1)},`;
  let out = "";
  let cumulative = 0;
  for (let i = 0; i < family.leLabels.length; i++) {
    cumulative += h.counts[i] ?? 0;
    out += `${name}_bucket{${inner}${family.leLabels[i] ?? ""}} ${formatValue(cumulative)}\n`;
  }
  out += `${name}_sum${s.labels} ${formatValue(h.sum)}\n`;
  out += `${name}_count${s.labels} ${formatValue(h.count)}\n`;
  return out;
}

/**
 * Yields the exposition text in chunks. Families without series are still
 * announced (HELP/TYPE) so that a dashboard sees the metric exists.
 */
export async function* renderChunks(store: Store, opts: RenderOptions = {}): AsyncGenerator<string> {
  // 1 ms: a scrape's slices delay event handling by at most this much each.
  const sliceMs = opts.sliceMs ?? 1;
  const chunkChars = opts.chunkChars ?? 1 << 20;
  const now = opts.now ?? (() => performance.now());
  const yieldToLoop = opts.yieldToLoop ?? defaultYield;
  let out = "";
  let sliceStart = now();
  let sinceClock = 0;
  for (const family of store.families) {
    out += family.header;
    const name = family.def.name;
    const isHistogram = family.def.type === "histogram";
    const series = Array.from(family.series.values());
    for (const s of series) {
      out += isHistogram ? renderHistogram(family, s) : renderScalar(name, s);
      if (++sinceClock < CLOCK_EVERY) continue;
      sinceClock = 0;
      const overTime = now() - sliceStart >= sliceMs;
      if (overTime || out.length >= chunkChars) {
        yield out;
        out = "";
        if (overTime) {
          await yieldToLoop();
          sliceStart = now();
        }
      }
    }
  }
  if (out !== "") yield out;
}

/** The whole text at once (tests, the bench); the HTTP server streams renderChunks instead. */
export async function renderToString(store: Store, opts: RenderOptions = {}): Promise<string> {
  const parts: string[] = [];
  for await (const chunk of renderChunks(store, opts)) parts.push(chunk);
  return parts.join("");
}
