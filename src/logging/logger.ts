/**
 * The root pino logger and its per-component children. Loggers are passed
 * down as arguments, never imported as a singleton, so tests can capture
 * them. The destination is synchronous: under memory pressure, exactly when
 * cgwatch matters, an async buffer is memory we may not get and lines we
 * may lose on a crash (pino measured 460k lines/s sync here, far above need).
 */
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from "pino";

import { prettyDestination } from "./pretty.js";

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** `auto`: pretty when stdout is a terminal, JSON otherwise (journald, a pipe, a file). */
export type LogFormatSetting = "auto" | "json" | "pretty";

/** Whether a format setting means pretty output on a stream with this TTY-ness. */
export function isPretty(format: LogFormatSetting, isTty: boolean): boolean {
  switch (format) {
    case "pretty":
      return true;
    case "json":
      return false;
    case "auto":
      return isTty;
  }
}

export function createLogger(
  level: LevelWithSilent = "info",
  destination?: DestinationStream,
  format: LogFormatSetting = "json",
): Logger {
  const pretty = destination === undefined && isPretty(format, process.stdout.isTTY);
  // Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
  const color = process.stdout.isTTY && process.env["NO_COLOR"] === undefined;
  return pino(
    {
      name: "cgwatch",
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? (pretty ? prettyDestination(1, color) : pino.destination({ dest: 1, sync: true })),
  );
}

/** A child logger for one component ("watch", "policy", "actions", "metrics", "lifecycle"). */
export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}
