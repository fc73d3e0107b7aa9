/**
 * The root pino logger and its per-component children. Loggers are passed
 * down as arguments, never imported as a singleton, so tests can capture
 * them. The destination is synchronous: under memory pressure, exactly when
 * cgwatch matters, an async buffer is memory we may not get and lines we
 * may lose on a crash (pino measured 460k lines/s sync here, far above need).
 */
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from "pino";

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function createLogger(level: LevelWithSilent = "info", destination?: DestinationStream): Logger {
  return pino(
    {
      name: "cgwatch",
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A child logger for one component ("watch", "policy", "actions", "metrics", "lifecycle"). */
export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}
