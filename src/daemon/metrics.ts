/** The metrics registry and, unless a test runs the loop alone, the HTTP server that exposes it. */
import { started, type Started } from "../lifecycle/steps.js";
import { createMetrics, type Metrics } from "../metrics/metrics.js";
import { startMetricsServer, type MetricsServer } from "../metrics/server.js";
import type { StartContext } from "./context.js";

export interface MetricsStarted {
  readonly metrics: Metrics;
  readonly server: MetricsServer | null;
}

export async function startMetrics(c: StartContext): Promise<Started<MetricsStarted>> {
  const { native } = c.options;
  const metrics = createMetrics();
  // File problems are counted from now on.
  c.countProblems((op, file, reason) => metrics.recordFileProblem(op, file, reason));
  const server = (c.options.serveMetrics ?? true) ? await serve(c, metrics) : null;
  // Without the addon, v1 OOM and PSI are polled: the fallback is a fact worth a gauge and a line.
  metrics.setNotifierFallback("eventfd", native.kind !== "loaded" && c.layout.v1.has("memory"));
  metrics.setNotifierFallback("psi", native.kind !== "loaded" && c.layout.v2Controllers.has("memory"));
  if (native.kind !== "loaded")
    c.log.lifecycle.warn(
      { reason: native.reason },
      "native addon unavailable: v1 OOM and PSI are polled instead of notified",
    );
  return started({ metrics, server }, server === null ? undefined : () => server.close());
}

async function serve(c: StartContext, metrics: Metrics): Promise<MetricsServer> {
  const listen = c.config.metrics.listen;
  const heartbeatMaxAgeMs = Math.max(30_000, c.config.safetyNetIntervalMs * 3);
  const gzip = c.config.metrics.gzip;
  let server: MetricsServer;
  switch (listen.kind) {
    case "tcp":
      server = await startMetricsServer({ metrics, host: listen.host, port: listen.port, heartbeatMaxAgeMs, gzip });
      break;
    case "systemd":
      server = await startMetricsServer({ metrics, fd: listen.fd, heartbeatMaxAgeMs, gzip });
      break;
  }
  c.log.metrics.info({ url: server.url }, "metrics listening");
  return server;
}
