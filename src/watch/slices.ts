/**
 * Work over many cgroups in slices that yield to the event loop. A sweep of
 * 10k cgroups reads tens of thousands of files; done in one go it would hold
 * an OOM notification behind it for hundreds of milliseconds (measured: up
 * to 579 ms before this existed). Each slice runs at most `budgetMs`.
 */
export interface SlicedRun {
  /** True while slices remain. */
  readonly running: boolean;
  cancel(): void;
}

export function runSliced<T>(items: readonly T[], each: (item: T) => void, budgetMs = 4, onDone?: () => void): SlicedRun {
  let i = 0;
  let cancelled = false;
  let running = true;
  const step = (): void => {
    if (cancelled) {
      running = false;
      return;
    }
    const until = performance.now() + budgetMs;
    while (i < items.length && performance.now() < until) {
      const item = items[i++];
      if (item !== undefined) each(item);
    }
    if (i < items.length) setImmediate(step);
    else {
      running = false;
      onDone?.();
    }
  };
  step();
  return {
    get running() {
      return running;
    },
    cancel() {
      cancelled = true;
    },
  };
}

/**
 * A periodic sliced sweep: every `everyMs`, runs `each` over `items()` in
 * slices; a tick that finds the previous sweep still running is skipped
 * rather than piled up.
 */
export function everySliced<T>(
  everyMs: number,
  items: () => readonly T[],
  each: (item: T) => void,
  options: { persistent: boolean; budgetMs?: number },
): { readonly stop: () => void; readonly kick: () => void } {
  let current: SlicedRun | null = null;
  const tick = (): void => {
    if (current?.running === true) return;
    current = runSliced(items(), each, options.budgetMs ?? 4);
  };
  const timer = everyMs > 0 ? setInterval(tick, everyMs) : null;
  if (timer !== null && !options.persistent) timer.unref();
  return {
    kick: tick,
    stop() {
      if (timer !== null) clearInterval(timer);
      current?.cancel();
    },
  };
}
