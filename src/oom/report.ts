/**
 * The log line of an OOM kill. The message names the cgroup the way every
 * cgroup line does (`oom_kill in web-1`, the path when the container is not
 * known), so it is stable to match on; the victims the kernel reported are
 * structured fields: `victims: [{pid, comm, anonRssBytes, …}]`, plus a
 * one-line `killed` summary for a reader: `hog (pid 4242) anon-rss 29.5 MiB`.
 */
import type { OomVictim, WatchdogEvent } from "../events/types.js";
import { displayName } from "../identity/labels.js";
import type { ContainerIdentity } from "../identity/types.js";

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export function oomKillMessage(event: WatchdogEvent, id: ContainerIdentity | null): string {
  return `${event.kind} in ${displayName(event.cgroup, id)}`;
}

export function killedSummary(victims: readonly OomVictim[]): string {
  return victims
    .map((v) => `${v.comm} (pid ${v.pid}) anon-rss ${mib(v.anonRssBytes)} file-rss ${mib(v.fileRssBytes)}`)
    .join("; ");
}
