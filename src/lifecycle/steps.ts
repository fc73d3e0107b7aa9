/**
 * Startup as an ordered list of named steps, each returning its value and,
 * when it holds something (a server, fds, timers), the stop that releases
 * it. Teardown runs the stops in reverse order and always runs every one
 * (a failing stop is logged and the next runs); a step that fails stops the
 * ones already started before the failure is rethrown, so a half-started
 * daemon never leaks a listening socket or an inotify fd.
 */
export type Stop = () => void | Promise<void>;

/** What a step returns: its value, and how to undo it (nothing to undo: no stop). */
export interface Started<T> {
  readonly value: T;
  readonly stop?: Stop;
}

export function started<T>(value: T, stop?: Stop): Started<T> {
  return stop === undefined ? { value } : { value, stop };
}

export interface Steps {
  /** Runs one step; on failure, stops every step started before it and rethrows. */
  run<T>(name: string, start: () => Started<T> | Promise<Started<T>>): Promise<T>;
  /** Registers a stop for something started outside a step (a hook wired late). */
  onStop(name: string, stop: Stop): void;
  /** Names of the steps whose stops are pending, in start order. */
  started(): string[];
  /** Runs the pending stops in reverse order, each once; a failing stop is logged, the others still run. */
  stop(): Promise<void>;
}

/** Where a failing stop is reported (a pino logger in the daemon). */
export interface StopLog {
  error(fields: Record<string, unknown>, msg: string): void;
}

export function createSteps(logger: StopLog): Steps {
  const stops: { name: string; stop: Stop }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s.stop();
      } catch (err) {
        logger.error({ err, step: s.name }, "shutdown step failed");
      }
    }
  };
  return {
    async run(name, start) {
      let result;
      try {
        result = await start();
      } catch (err) {
        // The caller logs the failure (once); here only what was started is undone.
        await stopAll();
        throw err;
      }
      if (result.stop !== undefined) stops.push({ name, stop: result.stop });
      return result.value;
    },
    onStop(name, stop) {
      stops.push({ name, stop });
    },
    started: () => stops.map((s) => s.name),
    stop: stopAll,
  };
}
