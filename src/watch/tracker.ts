/**
 * One cgroup's kernel state as cgwatch last read it, and the only place
 * where re-reads become events. Every source (inotify, eventfd, PSI, poll)
 * hands a Wake here; the tracker re-reads the file the wake is about, diffs
 * it against the last read and returns the events. So a notification that
 * changed nothing yields nothing, several increments behind one notification
 * yield one event with the whole delta, and a poll that finds what a
 * notification missed yields the same event a notification would have.
 *
 * Counter files come from the table (events/counterFiles); this module
 * composes their reads (counterReads.ts) with the state, PSI, cpu.stat and
 * settings reads of the modules beside it.
 *
 * The tracker never throws: a vanished cgroup reads as `gone`; a malformed
 * file is reported through `onProblem` and leaves the baseline untouched.
 */
import { cgroupFiles } from "../cgroup/cgroupFiles.js";
import type { CgroupLayout, Controller, CgroupVersion } from "../cgroup/layout.js";
import type { CpuStat } from "../cgroup/parse.js";
import type { FileReader } from "../cgroup/read.js";
import {
  COUNTER_FILES,
  type AnyCounterFile,
  type CounterFiles,
  type CounterValues,
} from "../events/counterFiles/index.js";
import type { ReadContext, StallState } from "../events/diffCounters.js";
import type { EventSource, PressureResource, WatchdogEvent } from "../events/types.js";
import type { Wake } from "../sources/types.js";
import { counterReads, initialCounterValues, type CounterReads } from "./counterReads.js";
import { readCpuStat } from "./cpuReads.js";
import { pressureReads } from "./pressureReads.js";
import { readPopulated, readReservation } from "./stateReads.js";
import { trackerProblems, type ProblemHooks, type TrackerProblem } from "./trackerProblems.js";
import { trackerSettings, type AncestorQuotas } from "./trackerSettings.js";

export type { TrackerProblem } from "./trackerProblems.js";

/** The absolute counter values last read: what metrics mirror. */
export type TrackedCounters = CounterValues & {
  cpu: CpuStat | null;
  /** Last cpu.stat read time (ms), for the interval of the next diff. */
  cpuReadAt: number | null;
  reservationAbove: boolean | null;
  populated: boolean | null;
  /** v1: the stall under OOM in progress (null: none), see diffOomControl. */
  stall: StallState | null;
  /** `at` of the last read in which v1 oom_kill went up: that notification's kill is confirmed. */
  oomKillSeenAt: number | null;
};

export interface CgroupTracker {
  readonly cgroup: string;
  readonly memoryVersion: CgroupVersion | null;
  readonly counters: Readonly<TrackedCounters>;
  /** Created while cgwatch watched (TrackerOptions.bornWatched). */
  readonly bornWatched: boolean;
  /** Whether the cgroup (or an ancestor) has a CPU quota: only then is cpu.stat polled. */
  hasCpuQuota(): boolean;
  /**
   * v1 pids.events sends no inotify event (measured on 6.18), so a cgroup
   * with a pids.max on v1 has it polled; refreshed with the quota.
   */
  pollsPids(): boolean;
  /** Re-reads pids.events (the poll path of v1). */
  sweepPids(at: number): WatchdogEvent[];
  refreshQuota(): void;
  handle(wake: Wake): WatchdogEvent[];
  /** A periodic `sample` event, carrying memory PSI where the kernel has it (v2). */
  sample(at: number): WatchdogEvent;
  /** Re-reads every counter file (the safety net, or the poll path when no notifier works). */
  sweepCounters(at: number, source: EventSource): WatchdogEvent[];
  /** Re-reads cpu.stat and diffs over the elapsed interval. */
  sweepCpu(at: number): WatchdogEvent[];
  /** The last read before a cgroup is forgotten, so its last OOM kill is not lost. */
  finalRead(at: number): WatchdogEvent[];
  /** Absolute path of a control file in the hierarchy that holds `controller`, or null. */
  fileOf(controller: Controller, file: string): string | null;
  /** Version of the hierarchy that holds `controller` for this cgroup, or null. */
  versionOf(controller: Controller): CgroupVersion | null;
  close(): void;
}

export interface TrackerOptions {
  readonly layout: CgroupLayout;
  readonly reader: FileReader;
  readonly cgroup: string;
  readonly onProblem?: (p: TrackerProblem) => void;
  /**
   * Created while cgwatch watched (found after the first scan): its kernel
   * counters started at 0, so they are diffed from 0 rather than from the
   * first read. Else a container whose first OOM kill or refused fork came
   * before that read (an engine starting it under load) would lose it.
   */
  readonly bornWatched?: boolean;
  /** Resources with a PSI trigger armed: their stall totals are read on sweeps, for the wakes to diff against. */
  readonly pressureResources?: readonly PressureResource[];
  /** A file reported through onProblem parsed cleanly again. */
  readonly onProblemCleared?: (p: { readonly cgroup: string; readonly file: string }) => void;
  /** The watched counter files (default: COUNTER_FILES). */
  readonly counterFiles?: CounterFiles;
  /** Ancestors' quotas shared by the trackers of one watcher (default: read afresh). */
  readonly ancestorQuotas?: AncestorQuotas;
}

export function createTracker(options: TrackerOptions): CgroupTracker {
  const { layout, reader, cgroup } = options;
  const table = options.counterFiles ?? COUNTER_FILES;
  const files = cgroupFiles(layout, reader, cgroup);
  const problems = trackerProblems(cgroup, options satisfies ProblemHooks);
  const memoryVersion = files.versionOf("memory");
  const born = options.bornWatched === true;
  const values = initialCounterValues(files, table, born);
  const counters = Object.assign(values, {
    cpu: null as CpuStat | null,
    cpuReadAt: null,
    reservationAbove: null,
    populated: null,
    stall: null as StallState | null,
    oomKillSeenAt: null,
  }) as TrackedCounters;
  const reads = counterReads(files, table, values, counters, problems);
  const pressure = pressureReads(files, problems);
  const settings = trackerSettings(layout, reader, files, options.ancestorQuotas);
  const sweepCpu = (at: number): WatchdogEvent[] => readCpuStat(files, counters, problems, at);
  const onEmptied = emptied(reads, table);

  const sweepCounters = (at: number, source: EventSource): WatchdogEvent[] => {
    const ctx = { cgroup, at, source };
    const out = memoryVersion === 2 ? readPopulated(files, counters, ctx, onEmptied) : [];
    reads.sweep(ctx, out);
    if (memoryVersion === 1) out.push(...readReservation(files, counters, ctx));
    // Baselines for the PSI wakes (taken at discovery, before the trigger is armed; triggers are v2 only).
    if (memoryVersion === 2) for (const resource of options.pressureResources ?? []) pressure.readStall(resource, at);
    return out;
  };

  const onFileChanged = (file: string, ctx: ReadContext): WatchdogEvent[] => {
    const def = table.byFile(file);
    if (def !== undefined) return reads.read(def, ctx);
    switch (file) {
      case "cgroup.events":
        return readPopulated(files, counters, ctx, onEmptied);
      case "memory.usage_in_bytes":
      case "memory.soft_limit_in_bytes":
        return readReservation(files, counters, ctx);
      case "cpu.stat":
        return sweepCpu(ctx.at);
      default:
        problems.report(file, "no reader for this file");
        return [];
    }
  };

  return {
    cgroup,
    memoryVersion,
    counters,
    bornWatched: born,
    hasCpuQuota: settings.hasCpuQuota,
    pollsPids: settings.pollsPids,
    sweepPids(at) {
      const out: WatchdogEvent[] = [];
      reads.sweep({ cgroup, at, source: "poll" }, out, isPids);
      return out;
    },
    refreshQuota: settings.refresh,
    fileOf: files.pathOf,
    versionOf: files.versionOf,
    handle(wake) {
      switch (wake.kind) {
        case "file_changed":
          return onFileChanged(wake.file, { cgroup, at: wake.at, source: wake.source });
        case "threshold_crossed":
          return readReservation(files, counters, { cgroup, at: wake.at, source: "eventfd" });
        case "pressure_level":
          return [
            { kind: "memory_pressure", cgroup, at: wake.at, source: "eventfd", resource: "memory", level: wake.level },
          ];
        case "psi_trigger":
          return pressure.pressureEvent(wake.resource, wake.trigger, { cgroup, at: wake.at, source: "psi" });
      }
    },
    sweepCounters,
    sweepCpu,
    sample: pressure.sample,
    finalRead(at) {
      const out = sweepCounters(at, "poll");
      if (files.versionOf("cpu") !== null && settings.hasCpuQuota()) out.push(...sweepCpu(at));
      return out;
    },
    close() {
      for (const dir of files.locatedDirs()) reader.forgetDir(dir);
      problems.clearAll();
    },
  };
}

const isPids = (def: AnyCounterFile): boolean => def.controller === "pids";

/** An emptied cgroup's memory counters are read at once: its final oom_kill must not be lost. */
function emptied(reads: CounterReads, table: CounterFiles): (ctx: ReadContext) => WatchdogEvent[] {
  return (ctx) => {
    const out: WatchdogEvent[] = [];
    reads.sweep(ctx, out, (def) => def.controller === "memory" && table.hasFile(def, 2));
    return out;
  };
}
