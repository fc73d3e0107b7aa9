/** The first full scan: the moment the daemon is ready, and the lines that say what cgwatch will touch. */
import type { Logger } from "pino";
import type { CgroupLayout } from "../cgroup/layout.js";
import type { Metrics } from "../metrics/metrics.js";
import type { WatchScope } from "../pipeline/types.js";
import type { Publisher } from "../watch/publish.js";
import type { Watcher } from "../watch/watcher.js";
import type { StartContext } from "./context.js";

/** Resolves with the number of watched cgroups once the first scan is done; the gauges are then published at once. */
export function firstScan(
  c: StartContext,
  d: {
    readonly watcher: Watcher;
    readonly metrics: Metrics;
    readonly publisher: Publisher;
    readonly scope: WatchScope;
  },
  onScanned: () => void,
): Promise<number> {
  return d.watcher.ready.then((n) => {
    onScanned();
    d.metrics.heartbeat();
    d.publisher.kick();
    const optedIn = [...d.watcher.trackers.keys()].filter(d.scope.mayAct).length;
    logReady(c.log.lifecycle, {
      watched: n,
      optedIn,
      dryRun: c.config.guardrails.global.dryRun,
      layout: c.layout,
      native: c.options.native.kind === "loaded",
    });
    return n;
  });
}

export interface ReadyFacts {
  readonly watched: number;
  /** Cgroups a watch rule with `act: true` matches. */
  readonly optedIn: number;
  readonly dryRun: boolean;
  readonly layout: CgroupLayout;
  readonly native: boolean;
}

export function logReady(log: Logger, f: ReadyFacts): void {
  const n = f.watched;
  const actable = f.dryRun ? 0 : f.optedIn;
  // The operator's first question about a watchdog: what will it touch? One line that says it.
  log.info(
    { watched: n, actable, optedIn: f.optedIn, dryRun: f.dryRun },
    `watching ${n} cgroup${n === 1 ? "" : "s"}, ${f.dryRun ? `acting on none (dry-run; ${f.optedIn} opted in)` : `may act on ${f.optedIn}`}${f.optedIn < n ? ` (${n - f.optedIn} observed only: no watch rule with act: true matches them)` : ""}`,
  );
  log.info({ watched: n, actable, mode: f.layout.mode, native: f.native }, "ready: first scan complete");
}
