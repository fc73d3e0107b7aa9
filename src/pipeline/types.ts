/** What the pipeline needs from the rest of the daemon, as narrow seams. */
import type { DiscoveryFilter } from "../sources/discovery.js";
import type { RuntimeConfig } from "../config/types.js";
import type { Observable } from "rxjs";

/** The state publisher's per-cgroup calls (no-ops until it exists: it starts after the watch loop). */
export interface Gauges {
  /** Re-publishes one cgroup now (after a write, after a late discovery). */
  refresh(cgroup: string): void;
  /** Publishes a new cgroup at `delaysMs` after now (its engine writes the limits after the mkdir). */
  publishSoon(cgroup: string, delaysMs: readonly number[]): void;
}

/**
 * What is watched, how it is labelled and what may be acted on: the watch
 * rules of the config last applied. A reload of `watch`/`exclude` replaces
 * them and re-filters discovery.
 */
export interface WatchScope {
  readonly labelsOf: (cgroup: string) => Readonly<Record<string, string>>;
  readonly mayAct: (cgroup: string) => boolean;
  /** Drops the cached rule matches of a cgroup (its identity changed or it went away). */
  readonly forget: (cgroup: string) => void;
  /** The discovery filter of the config the daemon started with. */
  readonly filter: DiscoveryFilter;
  readonly refilter$: Observable<DiscoveryFilter>;
  /** True while a reload's rescan drops cgroups (reported synchronously): they still exist, so no retention. */
  readonly adopting: () => boolean;
  /** Applies the watch rules of a reloaded config: rules and act scope first, then the rescan. */
  readonly replace: (next: RuntimeConfig) => void;
}
