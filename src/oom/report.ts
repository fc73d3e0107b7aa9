/**
 * The log message of an OOM kill: which container, which process, how big.
 * `oom_kill in web-1 (localhost/web:1): killed process 4242 (hog), anon-rss 29.5 MiB`
 */
import type { WatchdogEvent, OomVictim } from "../events/types.js";
import { displayName } from "../identity/labels.js";
import type { ContainerIdentity } from "../identity/types.js";

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export function oomKillLine(event: WatchdogEvent, id: ContainerIdentity | null, victims: readonly OomVictim[]): string {
  const who = displayName(event.cgroup, id) + (id?.image != null ? ` (${id.image})` : "");
  const what = victims.map((v) => `killed process ${v.pid} (${v.comm}), anon-rss ${mib(v.anonRssBytes)}, file-rss ${mib(v.fileRssBytes)}`).join("; ");
  return `${event.kind} in ${who}${what === "" ? "" : `: ${what}`}`;
}
