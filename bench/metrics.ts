/**
 * `/metrics` cost at 1k and 10k watched cgroups: render time, size, and the
 * longest the event loop went without a turn during one scrape, for
 * prom-client's `registry.metrics()` on the same series and for cgwatch's
 * slicing renderer. Also one real HTTP scrape of cgwatch's server.
 *
 * Loop gap: a setImmediate chain runs during the render and records the
 * longest interval between two of its ticks: that is how long an eventfd or
 * inotify callback would have waited. (monitorEventLoopDelay was tried and
 * dropped: it records nothing while the loop is blocked in one call, so it
 * reported 0 ms for prom-client's one-second render.)
 *
 * Run: `npm run build && node dist/bench/metrics.js` (prints JSON).
 */
import http from "node:http";
import { pathToFileURL } from "node:url";
import { createMetrics, type Metrics } from "../src/metrics/metrics.js";
import { startMetricsServer } from "../src/metrics/server.js";
import { mirrorToPromClient } from "./promClientMirror.js";
import { populate } from "./population.js";

export interface RenderFigures {
  /** Wall time from call to full text, ms (median of runs). */
  readonly renderMs: number;
  /** Process CPU (user + system, every thread: GC helpers included) over the render, ms (median of runs; absent in results from before it existed). */
  readonly cpuMs?: number;
  readonly bytes: number;
  readonly series: number;
  /** Longest interval between setImmediate ticks during the render, ms (max over runs). */
  readonly maxLoopGapMs: number;
}

export interface HttpFigures {
  /** Wall time of one GET, ms (median of runs). */
  readonly scrapeMs: number;
  /** Process CPU over one GET, server and client (same process; zlib's threadpool included), ms (median of runs). */
  readonly cpuMs: number;
  /** Longest interval between setImmediate ticks during a GET, ms (max over runs). */
  readonly maxLoopGapMs: number;
  /** Bytes on the wire (compressed when gzip). */
  readonly bytes: number;
}

export interface ScaleFigures {
  readonly cgroups: number;
  /** `await registry.metrics()` over the same series. */
  readonly promClient: RenderFigures;
  /** cgwatch's renderer as the server uses it: chunks encoded to UTF-8 Buffers as they come. */
  readonly cgwatchStream: RenderFigures;
  /** cgwatch's `render()` to one string (tests, tools): the final join of the whole text is one blocking step. */
  readonly cgwatchString: RenderFigures;
  /** One HTTP GET of /metrics from cgwatch's server over loopback, identity encoding, ms. */
  readonly httpScrapeMs: number;
  readonly httpMaxLoopGapMs: number;
  /** Process CPU over one HTTP scrape, server and client (same process), ms (absent in results from before it existed). */
  readonly httpCpuMs?: number;
  /** The same GET asking for gzip, as Prometheus does (absent in results from before it existed). */
  readonly httpGzip?: HttpFigures;
  /** heapUsed with the cgroups' series in cgwatch's store, after a GC when --expose-gc (before the prom-client copy exists). */
  readonly heapUsedMb: number;
}

export interface MetricsBenchResult {
  readonly node: string;
  readonly runs: number;
  readonly scales: readonly ScaleFigures[];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const round = (x: number): number => Math.round(x * 100) / 100;

/** Runs `work` while a setImmediate chain measures the loop's longest stall. */
async function withGapProbe<T>(
  work: () => Promise<T>,
): Promise<{ result: T; ms: number; cpuMs: number; maxGapMs: number }> {
  let running = true;
  let last = performance.now();
  let maxGap = 0;
  const tick = (): void => {
    const t = performance.now();
    maxGap = Math.max(maxGap, t - last);
    last = t;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await work();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  running = false;
  // One more turn so the gap that ends with the work's last slice is seen.
  await new Promise((r) => setImmediate(r));
  return { result, ms, cpuMs: (cpu.user + cpu.system) / 1000, maxGapMs: maxGap };
}

function countSamples(text: string): number {
  let n = 0;
  let start = 0;
  while (start < text.length) {
    if (text.charCodeAt(start) !== 35 /* # */) n++;
    const end = text.indexOf("\n", start);
    if (end < 0) break;
    start = end + 1;
  }
  return n;
}

/** `render` returns [bytes, samples]. */
async function measure(render: () => Promise<[number, number]>, runs: number): Promise<RenderFigures> {
  const times: number[] = [];
  const cpu: number[] = [];
  let maxGap = 0;
  let last: [number, number] = [0, 0];
  await render(); // warm-up: JIT and first-render allocation
  for (let i = 0; i < runs; i++) {
    const r = await withGapProbe(render);
    times.push(r.ms);
    cpu.push(r.cpuMs);
    maxGap = Math.max(maxGap, r.maxGapMs);
    last = r.result;
  }
  return {
    renderMs: round(median(times)),
    cpuMs: round(median(cpu)),
    bytes: last[0],
    series: last[1],
    maxLoopGapMs: round(maxGap),
  };
}

const ofText = (text: string): [number, number] => [Buffer.byteLength(text), countSamples(text)];

/** GETs `url`; resolves with the bytes received (compressed ones when `gzip`: the scraper's decompression is not timed). */
function httpGet(url: string, gzip = false): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: gzip ? { "accept-encoding": "gzip" } : {} }, (res) => {
        let n = 0;
        res.on("data", (b: Buffer) => (n += b.length));
        res.on("end", () => resolve(n));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

/** HTTP GETs of /metrics over loopback (the server's own gzip when asked, as Prometheus asks by default). */
async function httpScrapes(metrics: Metrics, runs: number, gzip: boolean): Promise<HttpFigures> {
  const server = await startMetricsServer({ metrics, port: 0, gzip });
  const url = `${server.url}/metrics`;
  const times: number[] = [];
  const cpu: number[] = [];
  let gap = 0;
  let bytes = 0;
  try {
    await httpGet(url, gzip);
    for (let i = 0; i < runs; i++) {
      const r = await withGapProbe(() => httpGet(url, gzip));
      times.push(r.ms);
      cpu.push(r.cpuMs);
      gap = Math.max(gap, r.maxGapMs);
      bytes = r.result;
    }
  } finally {
    await server.close();
  }
  return { scrapeMs: round(median(times)), cpuMs: round(median(cpu)), maxLoopGapMs: round(gap), bytes };
}

/**
 * prom-client's render of the same series. Its copy of the series is ~10x
 * the store's heap: it is built here and unreachable once this returns, so
 * that it does not weigh on the garbage collections the other figures see.
 */
async function promClientFigures(metrics: Metrics, runs: number): Promise<RenderFigures> {
  const registry = mirrorToPromClient(metrics.store);
  return measure(async () => ofText(await registry.metrics()), runs);
}

export async function runMetricsBench(
  opts: { scales?: readonly number[]; runs?: number } = {},
): Promise<MetricsBenchResult> {
  const runs = opts.runs ?? 5;
  const scales: ScaleFigures[] = [];
  for (const n of opts.scales ?? [1_000, 10_000]) {
    // Process metrics off: both sides render exactly the same families.
    const metrics = createMetrics({ processMetrics: false, build: { version: "bench" } });
    populate(metrics, n);
    globalThis.gc?.();
    const heapUsedMb = round(process.memoryUsage().heapUsed / 2 ** 20);
    // As the server sends it: each chunk encoded to a Buffer as it comes. Samples are counted once, outside the timed runs.
    const samples = countSamples(await metrics.render());
    const stream = await measure(async () => {
      let bytes = 0;
      for await (const chunk of metrics.renderChunks()) bytes += Buffer.from(chunk, "utf8").length;
      return [bytes, samples];
    }, runs);
    const str = await measure(async () => ofText(await metrics.render()), runs);
    const plain = await httpScrapes(metrics, runs, false);
    const httpGzip = await httpScrapes(metrics, runs, true);
    const theirs = await promClientFigures(metrics, runs);
    scales.push({
      cgroups: n,
      promClient: theirs,
      cgwatchStream: stream,
      cgwatchString: str,
      httpScrapeMs: plain.scrapeMs,
      httpMaxLoopGapMs: plain.maxLoopGapMs,
      httpCpuMs: plain.cpuMs,
      httpGzip,
      heapUsedMb,
    });
    globalThis.gc?.();
  }
  return { node: process.version, runs, scales };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runMetricsBench().then(
    (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
