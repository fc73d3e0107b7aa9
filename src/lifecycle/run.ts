/**
 * `cgwatch run`: the daemon as a process. Ordered start, READY=1 only after
 * the first full scan, WATCHDOG=1 at half of systemd's WatchdogSec while
 * the watch loop is alive, SIGHUP reloads the config and the policies
 * without losing counters or policy state, SIGTERM/SIGINT stop every source,
 * close every fd, flush the log and exit 0 within a bounded time.
 */
import type { DestinationStream, Logger } from "pino";
import { readOwnCgroups } from "../actions/selfProtection.js";
import { detectLayout, describeLayout } from "../cgroup/detect.js";
import { formatConfigError } from "../config/format.js";
import { loadConfig, type LoadOptions } from "../config/load.js";
import type { RuntimeConfig } from "../config/types.js";
import { startDaemon, hostMemoryBytes, type Daemon } from "../daemon.js";
import { createLogger } from "../logging/logger.js";
import { loadNative } from "../native/index.js";
import { sdNotify } from "../native/sdNotify.js";
import { preflight } from "./preflight.js";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** sysexits.h EX_CONFIG: the configuration is wrong. */
export const EXIT_CONFIG = 78;

const STOP_TIMEOUT_MS = 10_000;

/**
 * What runDaemon takes from its process. The CLI passes nothing; the tests
 * of the systemd contract pass a fake daemon, an emitter for signals and a
 * short stop timeout, so that a hung stop or a stalled loop can be provoked.
 */
export interface RunSeams {
  readonly start?: typeof startDaemon;
  readonly signals?: Pick<NodeJS.EventEmitter, "on" | "once">;
  readonly stopTimeoutMs?: number;
  readonly logDestination?: DestinationStream;
}

export async function runDaemon(load: LoadOptions, seams: RunSeams = {}): Promise<number> {
  const signals = seams.signals ?? process;
  const stopTimeoutMs = seams.stopTimeoutMs ?? STOP_TIMEOUT_MS;
  const loaded = loadConfig(load);
  // Exactly what `cgwatch check` verifies: a policy that does not compile
  // stops the start (exit 78), it is not silently left out.
  const checked = await preflight(loaded);
  if (checked.kind === "errors" || loaded.kind === "error") {
    const problems = checked.kind === "errors" ? checked.problems : [];
    for (const p of problems) process.stderr.write(`${p}\n`);
    process.stderr.write(`cgwatch: the configuration or its policies have ${problems.length} error(s); not starting (see cgwatch check)\n`);
    return EXIT_CONFIG;
  }
  let config: RuntimeConfig = loaded.config;
  const logger: Logger = createLogger(config.log.level, seams.logDestination);
  const procRoot = "/proc";
  let daemon: Daemon;
  try {
    const layout = detectLayout(config.cgroupRoot, procRoot);
    logger.info({ source: loaded.source, layout: describeLayout(layout), dryRun: config.dryRun }, "starting cgwatch");
    daemon = await (seams.start ?? startDaemon)({
      config,
      logger,
      layout,
      procRoot,
      native: loadNative(),
      hostMemoryBytes: hostMemoryBytes(procRoot),
      ownCgroups: readOwnCgroups(procRoot),
    });
  } catch (err) {
    logger.fatal({ err }, "cgwatch failed to start");
    logger.flush();
    return EXIT_FAILURE;
  }

  const watched = await daemon.ready;
  const notified = sdNotify(`READY=1\nSTATUS=watching ${watched} cgroups`);
  if (notified.kind === "failed" || notified.kind === "unavailable") logger.warn({ notified }, "could not notify systemd of readiness");

  // systemd's watchdog: ping at half the interval, only while the loop beats.
  const watchdogUsec = Number(process.env["WATCHDOG_USEC"] ?? "0");
  let watchdogTimer: ReturnType<typeof setInterval> | null = null;
  if (watchdogUsec > 0 && (process.env["WATCHDOG_PID"] === undefined || Number(process.env["WATCHDOG_PID"]) === process.pid)) {
    const maxAgeMs = watchdogUsec / 1000;
    watchdogTimer = setInterval(() => {
      const beat = daemon.metrics.lastHeartbeat();
      if (beat !== null && performance.now() - beat < maxAgeMs) sdNotify("WATCHDOG=1");
    }, maxAgeMs / 2);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "stopping");
      sdNotify("STOPPING=1");
      if (watchdogTimer !== null) clearInterval(watchdogTimer);
      const force = setTimeout(() => {
        logger.error({ timeoutMs: stopTimeoutMs }, "shutdown timed out; exiting anyway");
        logger.flush();
        resolve(EXIT_FAILURE);
      }, stopTimeoutMs);
      force.unref();
      daemon
        .stop()
        .then(() => {
          clearTimeout(force);
          logger.info("stopped");
          logger.flush();
          resolve(EXIT_OK);
        })
        .catch((err: unknown) => {
          logger.error({ err }, "shutdown failed");
          logger.flush();
          resolve(EXIT_FAILURE);
        });
    };
    signals.once("SIGTERM", () => stop("SIGTERM"));
    signals.once("SIGINT", () => stop("SIGINT"));
    signals.on("SIGHUP", () => {
      sdNotify("RELOADING=1");
      const next = loadConfig(load);
      if (next.kind === "error") {
        for (const e of next.errors) logger.error({ key: e.key, file: e.file, line: e.line }, `config reload refused: ${formatConfigError(e)}`);
      } else {
        const changed = daemon.applyConfig(next.config);
        const needRestart = (["watch", "exclude", "pollIntervalMs", "safetyNetIntervalMs", "psi", "v1PressureLevels", "metrics", "cgroupRoot"] as const).filter(
          (k) => JSON.stringify(next.config[k]) !== JSON.stringify(config[k]),
        );
        if (needRestart.length > 0) logger.warn({ keys: needRestart }, "these settings change only on restart");
        config = next.config;
        logger.info({ changed }, "configuration reloaded");
      }
      daemon
        .reloadPolicies()
        .then((report) => {
          logger.info({ results: report.results.map((r) => `${r.policy}:${r.result.kind}`) }, "policies reloaded");
          sdNotify("READY=1");
        })
        .catch((err: unknown) => logger.error({ err }, "policy reload failed"));
    });
  });
}
