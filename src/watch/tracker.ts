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
import { cgroupFiles, type CgroupFiles } from "../cgroup/cgroupFiles.js";
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
import { pressureReads, type PressureReads } from "./pressureReads.js";
import { readPopulated, readReservation } from "./stateReads.js";
import { trackerProblems, type ProblemHooks, type TrackerProblem, type TrackerProblems } from "./trackerProblems.js";
import { trackerSettings, type AncestorQuotas, type TrackerSettings } from "./trackerSettings.js";

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
  return new Tracker(options);
}

/*
 * A class: one tracker per watched cgroup, and as an object of closures it
 * was ~15 closures and 4 contexts per cgroup (~2 KB of heap at rest).
 */
class Tracker implements CgroupTracker {
  readonly cgroup: string;
  readonly memoryVersion: CgroupVersion | null;
  readonly counters: TrackedCounters;
  readonly bornWatched: boolean;
  private readonly reader: FileReader;
  private readonly table: CounterFiles;
  private readonly files: CgroupFiles;
  private readonly problems: TrackerProblems;
  private readonly reads: CounterReads;
  private readonly pressure: PressureReads;
  private readonly settings: TrackerSettings;
  private readonly pressureResources: readonly PressureResource[];

  constructor(options: TrackerOptions) {
    const { layout, reader, cgroup } = options;
    this.cgroup = cgroup;
    this.reader = reader;
    this.table = options.counterFiles ?? COUNTER_FILES;
    this.files = cgroupFiles(layout, reader, cgroup);
    this.problems = trackerProblems(cgroup, options satisfies ProblemHooks);
    this.memoryVersion = this.files.versionOf("memory");
    this.bornWatched = options.bornWatched === true;
    const values = initialCounterValues(this.files, this.table, this.bornWatched);
    this.counters = Object.assign(values, {
      cpu: null as CpuStat | null,
      cpuReadAt: null,
      reservationAbove: null,
      populated: null,
      stall: null as StallState | null,
      oomKillSeenAt: null,
    }) as TrackedCounters;
    this.reads = counterReads(this.files, this.table, values, this.counters, this.problems);
    this.pressure = pressureReads(this.files, this.problems);
    this.settings = trackerSettings(layout, reader, this.files, options.ancestorQuotas);
    this.pressureResources = options.pressureResources ?? [];
  }

  hasCpuQuota(): boolean {
    return this.settings.hasCpuQuota();
  }

  pollsPids(): boolean {
    return this.settings.pollsPids();
  }

  refreshQuota(): void {
    this.settings.refresh();
  }

  fileOf(controller: Controller, file: string): string | null {
    return this.files.pathOf(controller, file);
  }

  versionOf(controller: Controller): CgroupVersion | null {
    return this.files.versionOf(controller);
  }

  sweepPids(at: number): WatchdogEvent[] {
    const out: WatchdogEvent[] = [];
    this.reads.sweep({ cgroup: this.cgroup, at, source: "poll" }, out, isPids);
    return out;
  }

  sweepCpu(at: number): WatchdogEvent[] {
    return readCpuStat(this.files, this.counters, this.problems, at);
  }

  sample(at: number): WatchdogEvent {
    return this.pressure.sample(at);
  }

  sweepCounters(at: number, source: EventSource): WatchdogEvent[] {
    const ctx = { cgroup: this.cgroup, at, source };
    const out = this.memoryVersion === 2 ? this.readPopulated(ctx) : [];
    this.reads.sweep(ctx, out);
    if (this.memoryVersion === 1) out.push(...readReservation(this.files, this.counters, ctx));
    // Baselines for the PSI wakes (taken at discovery, before the trigger is armed; triggers are v2 only).
    if (this.memoryVersion === 2) for (const resource of this.pressureResources) this.pressure.readStall(resource, at);
    return out;
  }

  handle(wake: Wake): WatchdogEvent[] {
    const cgroup = this.cgroup;
    switch (wake.kind) {
      case "file_changed":
        return this.onFileChanged(wake.file, { cgroup, at: wake.at, source: wake.source });
      case "threshold_crossed":
        return readReservation(this.files, this.counters, { cgroup, at: wake.at, source: "eventfd" });
      case "pressure_level":
        return [
          { kind: "memory_pressure", cgroup, at: wake.at, source: "eventfd", resource: "memory", level: wake.level },
        ];
      case "psi_trigger":
        return this.pressure.pressureEvent(wake.resource, wake.trigger, { cgroup, at: wake.at, source: "psi" });
    }
  }

  finalRead(at: number): WatchdogEvent[] {
    const out = this.sweepCounters(at, "poll");
    if (this.files.versionOf("cpu") !== null && this.settings.hasCpuQuota()) out.push(...this.sweepCpu(at));
    return out;
  }

  close(): void {
    for (const dir of this.files.locatedDirs()) this.reader.forgetDir(dir);
    this.problems.clearAll();
  }

  private onFileChanged(file: string, ctx: ReadContext): WatchdogEvent[] {
    const def = this.table.byFile(file);
    if (def !== undefined) return this.reads.read(def, ctx);
    switch (file) {
      case "cgroup.events":
        return this.readPopulated(ctx);
      case "memory.usage_in_bytes":
      case "memory.soft_limit_in_bytes":
        return readReservation(this.files, this.counters, ctx);
      case "cpu.stat":
        return this.sweepCpu(ctx.at);
      default:
        this.problems.report(file, "no reader for this file");
        return [];
    }
  }

  /** cgroup.events; an emptied cgroup's memory counters are read at once: its final oom_kill must not be lost. */
  private readPopulated(ctx: ReadContext): WatchdogEvent[] {
    return readPopulated(this.files, this.counters, ctx, (c) => {
      const out: WatchdogEvent[] = [];
      this.reads.sweep(c, out, (def) => def.controller === "memory" && this.table.hasFile(def, 2));
      return out;
    });
  }
}

const isPids = (def: AnyCounterFile): boolean => def.controller === "pids";
