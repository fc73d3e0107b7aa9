/**
 * The HTTP face of the metrics: `/metrics` (streamed while it renders, so a
 * 10k-cgroup scrape never holds the whole text nor the event loop) and
 * `/healthz` (200 while the watch loop's heartbeat is recent, 503 with the
 * reason otherwise, for systemd/k8s liveness checks). Loopback by default:
 * the metrics name every cgroup on the host.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable, pipeline } from "node:stream";
import zlib from "node:zlib";
import type { Metrics } from "./metrics.js";
import { DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT } from "./names.js";

export interface MetricsServerOptions {
  readonly metrics: Metrics;
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port?: number;
  /**
   * An already-bound listening socket inherited from systemd (socket
   * activation, cgwatch.socket): host and port are then ignored. This lets
   * the service run with PrivateNetwork=yes while /metrics stays reachable.
   */
  readonly fd?: number;
  /** /healthz turns 503 when the last heartbeat is older than this (ms). */
  readonly heartbeatMaxAgeMs?: number;
  /** gzip when the scraper accepts it (Prometheus does); off saves CPU on loopback. */
  readonly gzip?: boolean;
  /** Monotonic ms clock, injectable for tests. */
  readonly now?: () => number;
  /** How long close() lets in-flight scrapes finish before cutting them (ms). */
  readonly closeGraceMs?: number;
}

export interface HealthReport {
  readonly status: "ok" | "stale" | "starting";
  readonly heartbeatAgeSeconds: number | null;
  readonly maxAgeSeconds: number;
  readonly watchedCgroups: number;
}

export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

/** Pure: the health verdict from the heartbeat's age. */
export function healthOf(lastBeat: number | null, now: number, maxAgeMs: number, watchedCgroups: number): HealthReport {
  const maxAgeSeconds = maxAgeMs / 1000;
  if (lastBeat === null) return { status: "starting", heartbeatAgeSeconds: null, maxAgeSeconds, watchedCgroups };
  const age = Math.max(0, now - lastBeat);
  return { status: age <= maxAgeMs ? "ok" : "stale", heartbeatAgeSeconds: age / 1000, maxAgeSeconds, watchedCgroups };
}

function acceptsGzip(req: http.IncomingMessage): boolean {
  const h = req.headers["accept-encoding"];
  const v = Array.isArray(h) ? h.join(",") : (h ?? "");
  return /\bgzip\b/.test(v);
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { metrics } = opts;
  const host = opts.host ?? DEFAULT_METRICS_HOST;
  const maxAgeMs = opts.heartbeatMaxAgeMs ?? 30_000;
  const now = opts.now ?? (() => performance.now());
  const useGzip = opts.gzip ?? true;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    switch (url.pathname) {
      case "/metrics": {
        const gzip = useGzip && acceptsGzip(req);
        res.writeHead(200, { "content-type": metrics.contentType, ...(gzip ? { "content-encoding": "gzip" } : {}) });
        if (req.method === "HEAD") {
          res.end();
          return;
        }
        const body = Readable.from(metrics.renderChunks(), { objectMode: false });
        const onDone = (err: Error | null): void => {
          // Headers are gone already: a failed render can only cut the
          // response short, which Prometheus reports as a failed scrape.
          if (err !== null) res.destroy(err);
        };
        // zlib runs on the threadpool, off the event loop.
        if (gzip) pipeline(body, zlib.createGzip({ level: 1 }), res, onDone);
        else pipeline(body, res, onDone);
        return;
      }
      case "/healthz": {
        const report = healthOf(metrics.lastHeartbeat(), now(), maxAgeMs, metrics.watchedCgroups());
        res.writeHead(report.status === "ok" ? 200 : 503, { "content-type": "application/json" });
        res.end(`${JSON.stringify(report)}\n`);
        return;
      }
      case "/":
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        res.end("cgwatch: /metrics (Prometheus), /healthz (watch loop liveness)\n");
        return;
      default:
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
    }
  });
  // A slow or stuck scraper must not pin sockets forever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    const listening = (): void => {
      server.off("error", onError);
      resolve();
    };
    if (opts.fd !== undefined) server.listen({ fd: opts.fd }, listening);
    else server.listen(opts.port ?? DEFAULT_METRICS_PORT, host, listening);
  });
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | null = null;

  return {
    host: addr.address,
    port: addr.port,
    url: `http://${urlHost}:${addr.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const grace = setTimeout(() => server.closeAllConnections(), opts.closeGraceMs ?? 5_000);
        grace.unref();
        server.close(() => {
          clearTimeout(grace);
          resolve();
        });
        // Keep-alive connections with no request in flight would hold close() open.
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
