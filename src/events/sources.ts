/**
 * Which notification sources can lead to each event kind, so that
 * `cgwatch_events_total{kind,source}` exports only series that can ever
 * move (64 kind × source pairs exist on paper; most are impossible, e.g.
 * `cgroup_added` via `psi`). The type makes the table exhaustive: a new
 * event kind does not compile until its sources are listed here.
 *
 * - inotify: v2 memory.events / pids.events / cgroup.events, and discovery's directory watches;
 * - eventfd: v1 memory.oom_control, usage thresholds, memory.pressure_level;
 * - psi: v2 PSI triggers;
 * - poll: cpu.stat sweeps, the safety net, final reads, v1 without the addon, samples.
 */
import type { EventKind, EventSource } from "./types.js";

export const EVENT_SOURCES_OF: { readonly [K in EventKind]: readonly EventSource[] } = {
  memory_low: ["inotify", "poll"],
  memory_high: ["inotify", "poll"],
  memory_max: ["inotify", "poll"],
  oom: ["inotify", "poll"],
  oom_kill: ["inotify", "eventfd", "poll"],
  oom_group_kill: ["inotify", "poll"],
  under_oom: ["eventfd", "poll"],
  reservation_breach: ["eventfd", "poll"],
  memory_pressure: ["eventfd", "psi"],
  cpu_pressure: ["psi"],
  io_pressure: ["psi"],
  cpu_throttled: ["poll"],
  pids_max: ["inotify", "poll"],
  cgroup_added: ["inotify"],
  cgroup_removed: ["inotify"],
  sample: ["poll"],
};
