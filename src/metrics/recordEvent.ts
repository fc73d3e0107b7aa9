/**
 * An event's effect on the metrics: counted by kind and source, and the
 * state it carries mirrored. Which series a counter event raises comes from
 * the counter file table (events/counterFiles): v1 memory.failcnt's
 * memory_max raises `failcnt`, v2 memory.events' raises `max`.
 */
import type { CgroupVersion } from "../cgroup/layout.js";
import type { CounterFamily, CounterFiles } from "../events/counterFiles/index.js";
import type { WatchdogEvent } from "../events/types.js";
import type { Families } from "./families.js";
import { raise } from "./seriesOps.js";
import type { CgroupEntry, Family } from "./store.js";

export function counterFamily(f: Families, family: CounterFamily): Family {
  switch (family) {
    case "memory_events":
      return f.memoryEvents;
    case "pids_events":
      return f.pidsEvents;
  }
}

/** Mirrors what the event carries on the cgroup's series (`e`: the cgroup's entry; its memory hierarchy's version). */
export function mirrorEvent(
  f: Families,
  table: CounterFiles,
  e: CgroupEntry,
  memoryVersion: CgroupVersion | null,
  event: WatchdogEvent,
): void {
  switch (event.kind) {
    case "memory_low":
    case "memory_high":
    case "memory_max":
    case "oom":
    case "oom_kill":
    case "oom_group_kill":
    case "pids_max": {
      const m = table.mirrorOf(event.kind, memoryVersion);
      if (m !== null) raise(e.get(counterFamily(f, m.family), [m.label]), event.counter.after);
      return;
    }
    case "under_oom":
      e.get(f.underOom).value = event.underOom ? 1 : 0;
      e.get(f.oomKillDisable).value = event.oomKillDisable ? 1 : 0;
      return;
    case "reservation_breach":
      e.get(f.usage).value = event.usageBytes;
      return;
    case "cpu_throttled":
      raise(e.get(f.cpuPeriods), event.periods.after);
      raise(e.get(f.cpuThrottledPeriods), event.throttledPeriods.after);
      raise(e.get(f.cpuThrottledSeconds), event.throttledSeconds.after);
      return;
    case "memory_pressure":
    case "cpu_pressure":
    case "io_pressure":
    case "cgroup_added":
    case "cgroup_removed":
    case "sample":
      return;
  }
}
