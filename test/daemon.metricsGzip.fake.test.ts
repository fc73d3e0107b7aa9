/**
 * `metrics.gzip` from the config reaches the /metrics server: a gzip-asking
 * scraper (as Prometheus is) gets gzip by default and plain text when the
 * operator turned it off (compression is ~1 s of CPU per scrape at 10,000
 * cgroups).
 */
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "./helpers/daemonHarness.js";
import { fakeHost, type FakeHost } from "./helpers/fakeCgroupfs.js";

let host: FakeHost | null = null;
let harness: Harness | null = null;
afterEach(async () => {
  await harness?.stop();
  host?.cleanup();
  harness = null;
  host = null;
});

function contentEncoding(port: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://127.0.0.1:${port}/metrics`, { headers: { "accept-encoding": "gzip" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.headers["content-encoding"]));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

async function encodingWith(metricsYaml: string): Promise<string | undefined> {
  host = fakeHost(1);
  harness = await startHarness({
    layout: host.layout,
    yaml: `cgroupRoot: ${host.root}\nwatch: [ "docker/*" ]\npolicies: { builtin: false }\n${metricsYaml}`,
    serveMetrics: true,
  });
  await harness.daemon.ready;
  const port = harness.daemon.metricsServer?.port;
  if (port === undefined) throw new Error("no metrics server");
  return contentEncoding(port);
}

describe("metrics.gzip", () => {
  it("default: a scraper that accepts gzip gets gzip", async () => {
    expect(await encodingWith(`metrics: { listen: "127.0.0.1:0" }\n`)).toBe("gzip");
  });

  it("false: plain text even when the scraper accepts gzip", async () => {
    expect(await encodingWith(`metrics: { listen: "127.0.0.1:0", gzip: false }\n`)).toBeUndefined();
  });
});
