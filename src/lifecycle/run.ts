/**
 * `cgwatch run`: the daemon as a process. Ordered start, READY=1 only after
 * the first full scan, WATCHDOG=1 at half of systemd's WatchdogSec while
 * the watch loop is alive, SIGHUP reloads the config and the policies
 * without losing counters or policy state, SIGTERM/SIGINT stop every source,
 * close every fd, flush the log and exit 0 within a bounded time.
 */
import fs from "node:fs";
import type { DestinationStream, Logger } from "pino";
import { readOwnCgroups } from "../actions/selfProtection.js";
import { detectLayout, describeLayout } from "../cgroup/detect.js";
import { formatConfigError } from "../config/format.js";
import { loadConfig, type LoadOptions } from "../config/load.js";
import type { LoadResult, RuntimeConfig } from "../config/types.js";
import { startDaemon, hostMemoryBytes, type Daemon, type DaemonOptions } from "../daemon.js";
import { createLogger } from "../logging/logger.js";
import { loadNative } from "../native/index.js";
import { sdNotify } from "../native/sdNotify.js";
import type { PrecompiledPolicies } from "../policy/precompiled.js";
import { preflight } from "./preflight.js";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** sysexits.h EX_CONFIG: the configuration is wrong. */
export const EXIT_CONFIG = 78;

const STOP_TIMEOUT_MS = 10_000;

export interface RunOptions {
  /** `--record FILE`: append each event and the snapshot policies saw, as JSON lines `cgwatch policy test` replays. */
  readonly recordFile?: string;
}

/**
 * What runDaemon takes from its process. The CLI passes nothing; the tests
 * of the systemd contract pass a fake daemon, an emitter for signals and a
 * short stop timeout, so that a hung stop or a stalled loop can be provoked.
 */
export interface RunSeams {
  readonly start?: typeof startDaemon;
  readonly signals?: Pick<NodeJS.EventEmitter, "on" | "once" | "off">;
  readonly stopTimeoutMs?: number;
  readonly logDestination?: DestinationStream;
}

/** Opens the trace file for appending; a failed write is logged once and recording stops, the daemon runs on. */
function openRecorder(file: string, logger: Logger): { record: NonNullable<DaemonOptions["record"]>; close(): void } {
  let fd: number | null = fs.openSync(file, "a", 0o600);
  return {
    record(event, snapshot) {
      if (fd === null) return;
      try {
        fs.writeSync(fd, `${JSON.stringify(snapshot === null ? { event } : { event, snapshot })}\n`);
      } catch (err) {
        logger.error({ err, file }, "cannot write the trace; recording stops");
        fs.closeSync(fd);
        fd = null;
      }
    },
    close() {
      if (fd !== null) fs.closeSync(fd);
      fd = null;
    },
  };
}

type Signals = NonNullable<RunSeams["signals"]>;

/**
 * A SIGHUP before the daemon can reload (preflight, startup, first scan)
 * would kill the process (Node's default): one listener from the start,
 * which holds it until ready. Never swap listeners: a signal that arrived
 * while the loop was busy is dispatched later, and removing the last
 * listener meanwhile would drop it.
 */
function holdHangups(signals: Signals): { handle(reload: () => void): void; release(): void } {
  let pending = false;
  let onHangup = (): void => {
    pending = true;
  };
  const listener = (): void => onHangup();
  signals.on("SIGHUP", listener);
  return {
    handle(reload) {
      onHangup = reload;
      if (pending) reload();
    },
    release: () => signals.off("SIGHUP", listener),
  };
}

/**
 * Exactly what `cgwatch check` verifies: a policy that does not compile stops the start (exit 78), it is
 * not silently left out. The sandboxes it compiled are kept for the engine (compiled once per start).
 */
async function checkedConfig(
  loaded: LoadResult,
): Promise<{ config: RuntimeConfig; precompiled: PrecompiledPolicies | null } | null> {
  const checked = await preflight(loaded, { keepSandboxes: true });
  if (checked.kind === "ok" && loaded.kind === "ok") return { config: loaded.config, precompiled: checked.precompiled };
  if (checked.kind === "ok") checked.precompiled?.release();
  const problems = checked.kind === "errors" ? checked.problems : [];
  for (const p of problems) process.stderr.write(`${p}\n`);
  process.stderr.write(
    `cgwatch: the configuration or its policies have ${problems.length} error(s); not starting (see cgwatch check)\n`,
  );
  return null;
}

type Recorder = ReturnType<typeof openRecorder>;

/** The daemon on the host's real layout, /proc and addon, recording when asked. */
async function startOnHost(
  checked: { config: RuntimeConfig; precompiled: PrecompiledPolicies | null },
  source: unknown,
  logger: Logger,
  opts: RunOptions & RunSeams,
): Promise<{ daemon: Daemon; recorder: Recorder | null }> {
  const { config, precompiled } = checked;
  const procRoot = "/proc";
  let recorder: Recorder | null = null;
  if (opts.recordFile !== undefined) {
    recorder = openRecorder(opts.recordFile, logger);
    logger.info({ file: opts.recordFile }, "recording every event and its snapshot for `cgwatch policy test`");
  }
  const layout = detectLayout(config.cgroupRoot, procRoot);
  logger.info({ source, layout: describeLayout(layout), dryRun: config.dryRun }, "starting cgwatch");
  const daemon = await (opts.start ?? startDaemon)({
    config,
    logger,
    layout,
    procRoot,
    native: loadNative(),
    hostMemoryBytes: hostMemoryBytes(procRoot),
    ownCgroups: readOwnCgroups(procRoot),
    ...(precompiled === null ? {} : { precompiledPolicies: precompiled }),
    ...(recorder === null ? {} : { record: recorder.record }),
  });
  return { daemon, recorder };
}

/** systemd's watchdog: WATCHDOG=1 at half the interval, only while the loop beats. */
function startSystemdWatchdog(daemon: Daemon): ReturnType<typeof setInterval> | null {
  const watchdogUsec = Number(process.env["WATCHDOG_USEC"] ?? "0");
  if (!(
    watchdogUsec > 0 &&
    (process.env["WATCHDOG_PID"] === undefined || Number(process.env["WATCHDOG_PID"]) === process.pid)
  ))
    return null;
  const maxAgeMs = watchdogUsec / 1000;
  return setInterval(() => {
    const beat = daemon.metrics.lastHeartbeat();
    if (beat !== null && performance.now() - beat < maxAgeMs) sdNotify("WATCHDOG=1");
  }, maxAgeMs / 2);
}

/** SIGHUP: reload the config (a bad one is refused, the old one kept) and the policies. */
function reloader(load: LoadOptions, daemon: Daemon, logger: Logger): () => void {
  return () => {
    sdNotify("RELOADING=1");
    const next = loadConfig(load);
    if (next.kind === "error") {
      for (const e of next.errors)
        logger.error({ key: e.key, file: e.file, line: e.line }, `config reload refused: ${formatConfigError(e)}`);
    } else {
      const plan = daemon.applyConfig(next.config);
      // One warning naming every key that keeps its old value, so nobody waits for a change that never comes.
      if (plan.restart.length > 0)
        logger.warn(
          { keys: plan.restart },
          `changed settings that take effect only after a restart: ${plan.restart.join(", ")}`,
        );
      logger.info({ changed: plan.apply }, "configuration reloaded");
    }
    daemon
      .reloadPolicies()
      .then((report) => {
        logger.info({ results: report.results.map((r) => `${r.policy}:${r.result.kind}`) }, "policies reloaded");
        sdNotify("READY=1");
      })
      .catch((err: unknown) => logger.error({ err }, "policy reload failed"));
  };
}

/** SIGTERM/SIGINT: stop every step within the timeout, flush the log; resolves with the exit code. */
function stopper(
  run: {
    daemon: Daemon;
    recorder: Recorder | null;
    watchdog: ReturnType<typeof setInterval> | null;
    logger: Logger;
    stopTimeoutMs: number;
  },
  resolve: (code: number) => void,
): (signal: string) => void {
  const { daemon, logger } = run;
  let stopping = false;
  return (signal) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    sdNotify("STOPPING=1");
    if (run.watchdog !== null) clearInterval(run.watchdog);
    const force = setTimeout(() => {
      logger.error({ timeoutMs: run.stopTimeoutMs }, "shutdown timed out; exiting anyway");
      logger.flush();
      resolve(EXIT_FAILURE);
    }, run.stopTimeoutMs);
    force.unref();
    daemon
      .stop()
      .then(() => {
        clearTimeout(force);
        run.recorder?.close();
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
}

export async function runDaemon(load: LoadOptions, opts: RunOptions & RunSeams = {}): Promise<number> {
  const signals = opts.signals ?? process;
  const hangups = holdHangups(signals);
  const loaded = loadConfig(load);
  const checked = await checkedConfig(loaded);
  if (checked === null || loaded.kind === "error") {
    hangups.release();
    return EXIT_CONFIG;
  }
  const logger: Logger = createLogger(checked.config.log.level, opts.logDestination, checked.config.log.format);
  let started: { daemon: Daemon; recorder: Recorder | null };
  try {
    started = await startOnHost(checked, loaded.source, logger, opts);
  } catch (err) {
    logger.fatal({ err }, "cgwatch failed to start");
    logger.flush();
    hangups.release();
    return EXIT_FAILURE;
  } finally {
    // The engine adopted the sandboxes it loaded; any it did not (or all, when the start failed before it) are disposed here.
    checked.precompiled?.release();
  }
  const { daemon } = started;
  const watched = await daemon.ready;
  const notified = sdNotify(`READY=1\nSTATUS=watching ${watched} cgroups`);
  if (notified.kind === "failed" || notified.kind === "unavailable")
    logger.warn({ notified }, "could not notify systemd of readiness");
  const watchdog = startSystemdWatchdog(daemon);
  return new Promise<number>((resolve) => {
    const stop = stopper(
      { ...started, watchdog, logger, stopTimeoutMs: opts.stopTimeoutMs ?? STOP_TIMEOUT_MS },
      resolve,
    );
    signals.once("SIGTERM", () => stop("SIGTERM"));
    signals.once("SIGINT", () => stop("SIGINT"));
    hangups.handle(reloader(load, daemon, logger));
  });
}
