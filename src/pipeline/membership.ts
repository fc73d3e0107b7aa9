/**
 * Which cgroups the metrics and the identity caches know: a cgroup_added
 * registers its series (and publishes its gauges once the first scan is
 * done), a cgroup_removed retires them for the retention window, or drops
 * them at once when a reload merely stopped watching a cgroup that exists.
 */
import { locateController, type CgroupLayout } from "../cgroup/layout.js";
import type { WatchdogEvent } from "../events/types.js";
import { identityLabels } from "../identity/labels.js";
import type { IdentityResolver } from "../identity/resolver.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Retention } from "../oom/retention.js";
import { memoryVersionOnDisk } from "../watch/notifiers.js";
import type { Watcher } from "../watch/watcher.js";
import type { Gauges, WatchScope } from "./types.js";

export interface MembershipDeps {
  readonly layout: CgroupLayout;
  readonly watcher: Pick<Watcher, "trackers">;
  readonly metrics: Metrics;
  readonly identities: IdentityResolver;
  readonly scope: Pick<WatchScope, "forget" | "adopting">;
  readonly retention: Retention;
  readonly gauges: Gauges;
  readonly pollIntervalMs: number;
  /** True once the first full scan is done. */
  readonly scanned: () => boolean;
}

/** Delays of the re-reads of a cgroup created while watched, under the poll interval first. */
function settleDelays(pollIntervalMs: number): number[] {
  return [...new Set([100, 250, 500].filter((d) => d < pollIntervalMs)), pollIntervalMs, 2500, 5000];
}

export function createMembership(deps: MembershipDeps): (event: WatchdogEvent) => void {
  const { metrics, identities, scope } = deps;
  const forget = (cgroup: string): void => {
    metrics.removeCgroup(cgroup);
    identities.forget(cgroup);
    scope.forget(cgroup);
  };
  const added = (cgroup: string): void => {
    const t = deps.watcher.trackers.get(cgroup);
    // Re-created within its retention window: a new cgroup, maybe a new container.
    if (deps.retention.revive(cgroup)) {
      identities.forget(cgroup);
      scope.forget(cgroup);
    }
    // Created while watched, or there before (found at startup, or adopted by a reload's new watch
    // rules): the watcher decided it once, for its diffs; the metrics follow the same fact.
    const born = t?.bornWatched === true;
    metrics.addCgroup(cgroup, {
      origin: born ? "created" : "startup",
      memory: t === undefined ? null : memoryVersionOnDisk(t),
      cpu: locateController(deps.layout, "cpu")?.version ?? null,
      pids: locateController(deps.layout, "pids") !== null,
      identity: identityLabels(identities.resolve(cgroup)),
    });
    // After the first scan a cgroup new to the metrics is published now; one created while
    // watched again soon: an engine writes a container's limits after its mkdir (runc,
    // once the container's init reported ready: 0.1-0.6 s after the mkdir,
    // over 1 s on a loaded host), so a read at discovery sees defaults.
    if (deps.scanned()) {
      deps.gauges.refresh(cgroup);
      if (born) deps.gauges.publishSoon(cgroup, settleDelays(deps.pollIntervalMs));
    }
  };
  const removed = (cgroup: string): void => {
    // A removed cgroup's last counters and identity stay exported for the retention window; one a
    // reload stopped watching (reported during the reload's rescan) exists still and goes at once.
    if (scope.adopting()) forget(cgroup);
    else {
      metrics.retireCgroup(cgroup);
      deps.retention.retire(cgroup, () => forget(cgroup));
    }
  };
  return (event) => {
    if (event.kind === "cgroup_added") added(event.cgroup);
    else if (event.kind === "cgroup_removed") removed(event.cgroup);
  };
}
