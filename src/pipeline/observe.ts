/**
 * The first stage, for every event: the heartbeat, the cgroup's membership
 * in the metrics, the event's counter and its log line. An oom_kill leaves
 * this stage with its victim when the kernel's report is already read.
 */
import type { Logger } from "pino";
import type { OomVictim, WatchdogEvent } from "../events/types.js";
import type { IdentityResolver } from "../identity/resolver.js";
import type { Metrics } from "../metrics/metrics.js";
import type { OomForensics } from "../oom/forensics.js";
import { killedSummary, oomKillMessage } from "../oom/report.js";
import { createOomReporter } from "../oom/reporter.js";

export interface ObserveDeps {
  readonly metrics: Metrics;
  readonly identities: Pick<IdentityResolver, "get">;
  readonly forensics: OomForensics | null;
  /** cgroup_added / cgroup_removed bookkeeping (membership.ts). */
  readonly membership: (event: WatchdogEvent) => void;
  readonly log: Logger;
}

export function createObserve(deps: ObserveDeps): (event: WatchdogEvent) => WatchdogEvent {
  const { metrics, log } = deps;
  /** The OOM line names the container and, once the kernel's report is read, the victim. */
  const logOom = (event: WatchdogEvent, victims: readonly OomVictim[]): void => {
    for (const v of victims)
      metrics.recordOomVictim(event.cgroup, {
        comm: v.comm,
        rssBytes: v.anonRssBytes + v.fileRssBytes + (v.shmemRssBytes ?? 0),
      });
    log.warn(
      { event, ...(victims.length > 0 ? { victims, killed: killedSummary(victims) } : {}) },
      oomKillMessage(event, deps.identities.get(event.cgroup)),
    );
  };
  const oomReporter = createOomReporter(deps.forensics, logOom);
  return (event) => {
    metrics.heartbeat();
    deps.membership(event);
    metrics.recordEvent(event);
    switch (event.kind) {
      case "oom_kill":
        return oomReporter.attach(event);
      case "under_oom":
      case "oom_group_kill":
        log.warn({ event }, oomKillMessage(event, deps.identities.get(event.cgroup)));
        return event;
      case "sample":
      case "cgroup_added":
      case "cgroup_removed":
        return event;
      default:
        log.debug({ event }, event.kind);
        return event;
    }
  };
}
