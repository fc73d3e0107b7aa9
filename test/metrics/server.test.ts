/**
 * The metrics HTTP server on loopback: content type, gzip when asked,
 * /healthz verdicts from the heartbeat's age, graceful close with a
 * keep-alive connection open.
 */
import http from "node:http";
import zlib from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/metrics/metrics.js";
import { parseExposition } from "../helpers/parseExposition.js";
import { healthOf, startMetricsServer, type MetricsServer } from "../../src/metrics/server.js";
import { populate } from "../../bench/population.js";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function get(url: string, headers: Record<string, string> = {}, agent?: http.Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, ...(agent === undefined ? {} : { agent }) }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

let server: MetricsServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

describe("metrics server", () => {
  it("serves /metrics on 127.0.0.1, plain and gzip, with the exposition content type", async () => {
    const metrics = createMetrics({ build: { version: "t" } });
    populate(metrics, 50);
    server = await startMetricsServer({ metrics, port: 0 });
    expect(server.host).toBe("127.0.0.1");
    const plain = await get(`${server.url}/metrics`);
    expect(plain.status).toBe(200);
    expect(plain.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(plain.headers["content-encoding"]).toBeUndefined();
    const zipped = await get(`${server.url}/metrics`, { "accept-encoding": "gzip" });
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    const unzipped = zlib.gunzipSync(zipped.body).toString("utf8");
    const cg = parseExposition(unzipped).samples.filter((s) => s.name === "cgwatch_memory_limit_bytes");
    expect(cg.length).toBe(50);
    expect(
      parseExposition(plain.body.toString("utf8")).samples.filter((s) => s.name === "cgwatch_memory_limit_bytes"),
    ).toEqual(cg);
    expect((await get(`${server.url}/nope`)).status).toBe(404);
  });

  it("/healthz: 503 before the first heartbeat, 200 while recent, 503 when stale, JSON body", async () => {
    let now = 1_000;
    const metrics = createMetrics({ processMetrics: false, build: { version: "t" }, monotonicNow: () => now });
    server = await startMetricsServer({ metrics, port: 0, heartbeatMaxAgeMs: 5_000, now: () => now });
    const starting = await get(`${server.url}/healthz`);
    expect(starting.status).toBe(503);
    expect(JSON.parse(starting.body.toString())).toMatchObject({ status: "starting", heartbeatAgeSeconds: null });
    metrics.heartbeat();
    now += 4_000;
    const ok = await get(`${server.url}/healthz`);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body.toString())).toEqual({
      status: "ok",
      heartbeatAgeSeconds: 4,
      maxAgeSeconds: 5,
      watchedCgroups: 0,
    });
    now += 1_001;
    const stale = await get(`${server.url}/healthz`);
    expect(stale.status).toBe(503);
    expect(JSON.parse(stale.body.toString())).toMatchObject({ status: "stale", heartbeatAgeSeconds: 5.001 });
  });

  it("healthOf boundaries", () => {
    expect(healthOf(null, 10, 5, 0).status).toBe("starting");
    expect(healthOf(0, 5, 5, 0).status).toBe("ok");
    expect(healthOf(0, 6, 5, 0).status).toBe("stale");
  });

  it("close() resolves with an idle keep-alive connection open, and the port is released", async () => {
    const metrics = createMetrics({ processMetrics: false, build: { version: "t" } });
    const s = await startMetricsServer({ metrics, port: 0 });
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect((await get(`${s.url}/metrics`, {}, agent)).status).toBe(200);
      await s.close();
      await expect(get(`${s.url}/metrics`)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      agent.destroy();
    }
  });

  it("refuses to start on a port in use, with the error", async () => {
    const metrics = createMetrics({ processMetrics: false, build: { version: "t" } });
    server = await startMetricsServer({ metrics, port: 0 });
    await expect(startMetricsServer({ metrics, port: server.port })).rejects.toThrow(/EADDRINUSE/);
  });
});
