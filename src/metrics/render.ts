/**
 * Renders a Store as Prometheus text, in slices that yield to the event loop.
 * A scrape of 10k cgroups is hundreds of thousands of lines; rendered in one
 * go it would hold every eventfd/inotify callback for its whole duration. So
 * the renderer works for at most `sliceMs`, then waits one setImmediate turn
 * (I/O callbacks run in between) and carries on where it stopped.
 *
 * Chunks are built as a list of pieces joined once (one flat string, one
 * copy), not with `+=`: a rope keeps ~5 cons cells per line alive until the
 * chunk is flattened for the socket, and every scavenge during a scrape had
 * to copy that live rope (with 1 MB chunks, an HTTP scrape of 10k cgroups
 * showed loop stalls of 7–15 ms, 3–4 ms after this change, same machine).
 * Chunks are small (64 KB) for the same reason: what is live between two
 * yields is what a scavenge copies. Joining pieces also costs less CPU than
 * flattening the rope (stream render at 10k: ~150 -> ~90 ms).
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
  /** Emit a chunk at least this often (characters, approximately), to bound memory when streaming. */
  readonly chunkChars?: number;
  /** Monotonic clock, injectable for tests. */
  readonly now?: () => number;
  /** How to yield; setImmediate by default. */
  readonly yieldToLoop?: () => Promise<void>;
}

const defaultYield = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** How many series between two clock reads: reading the clock per line would cost more than the line. */
const CLOCK_EVERY = 256;

/** The pieces of the chunk being built and their length in characters. */
interface Pieces {
  list: string[];
  chars: number;
}

function pushScalar(p: Pieces, name: string, s: Series): void {
  const v = s.hold ? 0 : s.value;
  // Shown once: from the next scrape on, the real value is exposed.
  s.hold = false;
  // Value and separators as one short string: fewer pieces for join() to walk.
  const tail = ` ${formatValue(v)}\n`;
  p.list.push(name, s.labels, tail);
  p.chars += name.length + s.labels.length + tail.length;
}

function pushLine(p: Pieces, line: string): void {
  p.list.push(line);
  p.chars += line.length;
}

function pushHistogram(p: Pieces, family: Family, s: Series): void {
  const h = s.histogram;
  if (h === null) return;
  const name = family.def.name;
  // Label text is `{a="x"}` or ""; `le` goes last, as prom-client does.
  const inner = s.labels === "" ? "" : `${s.labels.slice(1, -1)},`;
  let cumulative = 0;
  for (let i = 0; i < family.leLabels.length; i++) {
    cumulative += h.counts[i] ?? 0;
    pushLine(p, `${name}_bucket{${inner}${family.leLabels[i] ?? ""}} ${formatValue(cumulative)}\n`);
  }
  pushLine(p, `${name}_sum${s.labels} ${formatValue(h.sum)}\n`);
  pushLine(p, `${name}_count${s.labels} ${formatValue(h.count)}\n`);
}

/** The chunk's text as one flat string; the list starts over. */
function take(p: Pieces): string {
  const text = p.list.join("");
  p.list = [];
  p.chars = 0;
  return text;
}

/** Where a render stands: the family being rendered, its series (copied when reached; null before) and the next one. */
interface Cursor {
  family: number;
  series: readonly Series[] | null;
  next: number;
}

/**
 * Renders from the cursor on until `budget` series are done, the chunk is
 * full, or the end; returns how many series it rendered. Synchronous, so
 * that the hot loop is not in the async generator.
 */
function renderSome(store: Store, c: Cursor, p: Pieces, chunkChars: number, budget: number): number {
  let done = 0;
  while (c.family < store.families.length) {
    const family = store.families[c.family] as Family;
    if (c.series === null) {
      pushLine(p, family.header);
      c.series = Array.from(family.series.values());
    }
    const name = family.def.name;
    const isHistogram = family.def.type === "histogram";
    while (c.next < c.series.length) {
      const s = c.series[c.next++] as Series;
      if (isHistogram) pushHistogram(p, family, s);
      else pushScalar(p, name, s);
      if (++done === budget || p.chars >= chunkChars) return done;
    }
    c.family++;
    c.series = null;
    c.next = 0;
  }
  return done;
}

/**
 * Yields the exposition text in chunks. Families without series are still
 * announced (HELP/TYPE) so that a dashboard sees the metric exists.
 */
export async function* renderChunks(store: Store, opts: RenderOptions = {}): AsyncGenerator<string> {
  // 1 ms: a scrape's slices delay event handling by at most this much each.
  const sliceMs = opts.sliceMs ?? 1;
  const chunkChars = opts.chunkChars ?? 1 << 16;
  const now = opts.now ?? (() => performance.now());
  const yieldToLoop = opts.yieldToLoop ?? defaultYield;
  const p: Pieces = { list: [], chars: 0 };
  const c: Cursor = { family: 0, series: null, next: 0 };
  let sliceStart = now();
  let sinceClock = 0;
  while (c.family < store.families.length) {
    sinceClock += renderSome(store, c, p, chunkChars, CLOCK_EVERY - sinceClock);
    if (p.chars >= chunkChars) yield take(p);
    if (sinceClock < CLOCK_EVERY) continue;
    sinceClock = 0;
    if (now() - sliceStart < sliceMs) continue;
    if (p.list.length > 0) yield take(p);
    await yieldToLoop();
    sliceStart = now();
  }
  if (p.list.length > 0) yield take(p);
}

/** The whole text at once (tests, the bench); the HTTP server streams renderChunks instead. */
export async function renderToString(store: Store, opts: RenderOptions = {}): Promise<string> {
  const parts: string[] = [];
  for await (const chunk of renderChunks(store, opts)) parts.push(chunk);
  return parts.join("");
}
