/**
 * One cgroup's kernel state as cgwatch last read it, and the only place
 * where re-reads become events. Every source (inotify, eventfd, PSI, poll)
 * hands a Wake here; the tracker re-reads the file the wake is about, diffs
 * it against the last read and returns the events. So a notification that
 * changed nothing yields nothing, several increments behind one notification
 * yield one event with the whole delta, and a poll that finds what a
 * notification missed yields the same event a notification would have.
 *
 * The tracker never throws: a vanished cgroup reads as `gone`; a malformed
 * file is reported through `onProblem` and leaves the baseline untouched.
 */
import path from "node:path";
import type { CgroupLayout, Controller, CgroupVersion } from "../cgroup/layout.js";
import { cgroupDir } from "../cgroup/paths.js";
import {
  parseCpuStat,
  parseFlatKeyed,
  parseInteger,
  parseLimit,
  parseMemoryEvents,
  parseOomControl,
  parsePidsEvents,
  parsePsi,
  type CpuStat,
  type MemoryEventCounters,
  type OomControl,
  type Parsed,
} from "../cgroup/parse.js";
import type { FileReader, ReadResult } from "../cgroup/read.js";
import { diffCpuStat, diffFailcnt, diffMemoryEvents, diffOomControl, diffPidsEvents, diffReservation, type ReadContext, type StallState } from "../events/diffCounters.js";
import { judgePsiWake, recordStall, stallReading, type StallReading } from "../events/diffPressure.js";
import type { EventSource, PressureResource, WatchdogEvent } from "../events/types.js";
import type { Wake } from "../sources/types.js";

export interface TrackerProblem {
  readonly cgroup: string;
  readonly file: string;
  readonly reason: string;
}

/** The absolute counter values last read: what metrics mirror. */
export interface TrackedCounters {
  memoryEvents: MemoryEventCounters | null;
  oomControl: OomControl | null;
  failcnt: number | null;
  pidsMax: number | null;
  cpu: CpuStat | null;
  /** Last cpu.stat read time (ms), for the interval of the next diff. */
  cpuReadAt: number | null;
  reservationAbove: boolean | null;
  populated: boolean | null;
  /** v1: the stall under OOM in progress (null: none), see diffOomControl. */
  stall: StallState | null;
  /** `at` of the last read in which v1 oom_kill went up: that notification's kill is confirmed. */
  oomKillSeenAt: number | null;
}

export interface CgroupTracker {
  readonly cgroup: string;
  readonly memoryVersion: CgroupVersion | null;
  readonly counters: Readonly<TrackedCounters>;
  /** Whether the cgroup (or an ancestor) has a CPU quota: only then is cpu.stat polled. */
  /** Created while cgwatch watched (TrackerOptions.bornWatched). */
  readonly bornWatched: boolean;
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
}

const PRESSURE_FILE: Readonly<Record<PressureResource, string>> = { memory: "memory.pressure", cpu: "cpu.pressure", io: "io.pressure" };
const PRESSURE_CONTROLLER: Readonly<Record<PressureResource, Controller>> = { memory: "memory", cpu: "cpu", io: "io" };

export function createTracker(options: TrackerOptions): CgroupTracker {
  const { layout, reader, cgroup } = options;
  /** Files with a reported problem: only those are cleared (once) by a good parse. */
  const troubled = new Set<string>();
  const report = (file: string, reason: string): void => {
    troubled.add(file);
    options.onProblem?.({ cgroup, file, reason });
  };
  const parsedCleanly = (file: string): void => {
    if (troubled.size > 0 && troubled.delete(file)) options.onProblemCleared?.({ cgroup, file });
  };
  const dirs = new Map<Controller, { dir: string; version: CgroupVersion } | null>();
  const dirOf = (c: Controller): { dir: string; version: CgroupVersion } | null => {
    if (!dirs.has(c)) {
      const d = cgroupDir(layout, cgroup, c);
      dirs.set(c, d === null ? null : { dir: d.dir, version: d.location.version });
    }
    return dirs.get(c) ?? null;
  };
  const fileOf = (c: Controller, file: string): string | null => {
    const d = dirOf(c);
    return d === null ? null : path.join(d.dir, file);
  };
  const read = (c: Controller, file: string): ReadResult | null => {
    const p = fileOf(c, file);
    return p === null ? null : reader.read(p);
  };
  const memoryVersion = dirOf("memory")?.version ?? null;
  const cpuVersion = dirOf("cpu")?.version ?? null;

  const born = options.bornWatched === true;
  const counters: TrackedCounters = {
    memoryEvents: born ? { low: 0, high: 0, max: 0, oom: 0, oom_kill: 0, oom_group_kill: 0 } : null,
    oomControl: born ? { oomKillDisable: false, underOom: false, oomKill: 0 } : null,
    failcnt: born ? 0 : null,
    pidsMax: born ? 0 : null,
    cpu: null,
    cpuReadAt: null,
    reservationAbove: null,
    populated: null,
    stall: null,
    oomKillSeenAt: null,
  };
  let quota = false;

  /**
   * Re-read one file, parse it, and on success diff against the last value
   * and store the new one. A gone or unreadable file yields nothing (removing
   * a v1 cgroup signals every eventfd once more: the file is gone then, and a
   * gone file is not an OOM); a malformed one is reported and leaves the
   * baseline where it was.
   */
  const rereadAndDiff = <T>(
    controller: Controller,
    file: string,
    parse: (text: string) => Parsed<T>,
    /** Diffs the new value against the stored one (the caller's closure holds it). */
    diff: (next: T) => WatchdogEvent[],
    store: (next: T) => void,
  ): WatchdogEvent[] => {
    const r = read(controller, file);
    if (r === null || r.kind !== "ok") return [];
    const parsed = parse(r.text);
    if (parsed.kind === "malformed") {
      report(file, parsed.reason);
      return [];
    }
    parsedCleanly(file);
    const events = diff(parsed.value);
    store(parsed.value);
    return events;
  };

  const readMemoryEvents = (ctx: ReadContext): WatchdogEvent[] =>
    rereadAndDiff("memory", "memory.events", parseMemoryEvents, (next) => diffMemoryEvents(counters.memoryEvents, next, ctx), (v) => (counters.memoryEvents = v));
  const readOomControl = (ctx: ReadContext): WatchdogEvent[] =>
    rereadAndDiff(
      "memory",
      "memory.oom_control",
      parseOomControl,
      (next) => {
        const r = diffOomControl(counters.oomControl, next, counters.stall, ctx);
        counters.stall = r.stall;
        if (r.events.some((e) => e.kind === "oom_kill")) counters.oomKillSeenAt = ctx.at;
        return r.events;
      },
      (v) => (counters.oomControl = v),
    );
  const readFailcnt = (ctx: ReadContext): WatchdogEvent[] =>
    rereadAndDiff("memory", "memory.failcnt", parseInteger, (next) => diffFailcnt(counters.failcnt, next, ctx), (v) => (counters.failcnt = v));
  const readPidsEvents = (ctx: ReadContext): WatchdogEvent[] =>
    rereadAndDiff("pids", "pids.events", parsePidsEvents, (next) => diffPidsEvents(counters.pidsMax, next, ctx), (v) => (counters.pidsMax = v));

  const readReservation = (ctx: ReadContext): WatchdogEvent[] => {
    // v2 reports reservation pressure itself (memory.events low/high); the
    // usage-vs-soft-limit comparison is the v1 mechanism.
    if (memoryVersion !== 1) return [];
    const usage = read("memory", "memory.usage_in_bytes");
    const soft = read("memory", "memory.soft_limit_in_bytes");
    if (usage?.kind !== "ok" || soft?.kind !== "ok") return [];
    const u = parseInteger(usage.text);
    const s = parseLimit(soft.text);
    if (u.kind !== "ok" || s.kind !== "ok") return [];
    const r = diffReservation(counters.reservationAbove, u.value, s.value, ctx);
    counters.reservationAbove = r.above;
    return r.events;
  };

  const readPopulated = (ctx: ReadContext): WatchdogEvent[] => {
    const r = read("memory", "cgroup.events") ?? read("cpu", "cgroup.events");
    if (r === null || r.kind !== "ok") return [];
    const populated = parseFlatKeyed(r.text).values.get("populated");
    if (populated === undefined) return [];
    const was = counters.populated;
    counters.populated = populated !== 0;
    // Emptied: the last task is gone and the cgroup may be removed any
    // moment; read memory.events now or its final oom_kill is lost.
    if (was === true && populated === 0) return readMemoryEvents(ctx);
    return [];
  };

  const stalls = new Map<PressureResource, StallReading[]>();
  const readStall = (resource: PressureResource, at: number): ReturnType<typeof parsePsi> | null => {
    const r = read(PRESSURE_CONTROLLER[resource], PRESSURE_FILE[resource]);
    if (r === null || r.kind !== "ok") return null;
    const psi = parsePsi(r.text);
    if (psi.kind === "malformed") report(PRESSURE_FILE[resource], psi.reason);
    else {
      parsedCleanly(PRESSURE_FILE[resource]);
      stalls.set(resource, recordStall(stalls.get(resource) ?? [], stallReading(at, psi.value)));
    }
    return psi;
  };

  /**
   * A PSI trigger woke. It is pressure only if the cgroup still has tasks
   * and the stall total grew over the trigger's window: on 6.1 an rmdir
   * wakes every trigger of the cgroup (the pressure file is then gone or
   * still), and that is no event, so no policy acts on a vanishing cgroup.
   */
  const pressureEvent = (resource: PressureResource, trigger: string, ctx: ReadContext): WatchdogEvent[] => {
    const events = read("memory", "cgroup.events") ?? read(PRESSURE_CONTROLLER[resource], "cgroup.events");
    if (events?.kind !== "ok" || parseFlatKeyed(events.text).values.get("populated") === 0) return [];
    const history = stalls.get(resource) ?? [];
    const psi = readStall(resource, ctx.at);
    if (psi?.kind !== "ok") return [];
    const verdict = judgePsiWake(trigger, history, stallReading(ctx.at, psi.value));
    if (verdict.kind === "no_stall") return [];
    return [
      {
        kind: `${resource}_pressure`,
        cgroup,
        at: ctx.at,
        source: ctx.source,
        resource,
        trigger,
        ...(verdict.kind === "pressure" ? { stall: verdict.stall } : {}),
        someAvg10: psi.value.some.avg10,
        ...(psi.value.full === null ? {} : { fullAvg10: psi.value.full.avg10 }),
      },
    ];
  };

  const sweepCpu = (at: number): WatchdogEvent[] => {
    const r = read("cpu", "cpu.stat");
    if (r === null || r.kind !== "ok") return [];
    const parsed = parseCpuStat(r.text);
    if (parsed.kind === "malformed") {
      report("cpu.stat", parsed.reason);
      return [];
    }
    parsedCleanly("cpu.stat");
    const interval = counters.cpuReadAt === null ? 0 : (at - counters.cpuReadAt) / 1000;
    const events = diffCpuStat(counters.cpu, parsed.value, interval, { cgroup, at, source: "poll" });
    counters.cpu = parsed.value;
    counters.cpuReadAt = at;
    return events;
  };

  let pidsPolled = false;
  const refreshPidsLimit = (): void => {
    const d = dirOf("pids");
    if (d === null || d.version !== 1) return;
    const r = read("pids", "pids.max");
    pidsPolled = r?.kind === "ok" && r.text.trim() !== "max";
  };

  const refreshQuota = (): void => {
    refreshPidsLimit();
    // Throttling can come from an ancestor's quota (v1 and v2 both), so a
    // cgroup is polled if it or any ancestor has one.
    quota = false;
    const segments = cgroup === "" ? [] : cgroup.split("/");
    for (let i = segments.length; i >= 0 && !quota; i--) {
      const anc = segments.slice(0, i).join("/");
      const d = cgroupDir(layout, anc, "cpu");
      if (d === null) return;
      const file = d.location.version === 1 ? "cpu.cfs_quota_us" : "cpu.max";
      const r = reader.read(path.join(d.dir, file));
      if (r.kind !== "ok") continue;
      const first = r.text.trim().split(/\s+/)[0] ?? "";
      quota = first !== "max" && first !== "-1" && first !== "";
    }
  };

  const sweepCounters = (at: number, source: EventSource): WatchdogEvent[] => {
    const ctx = { cgroup, at, source };
    const out: WatchdogEvent[] = [];
    if (memoryVersion === 2) {
      out.push(...readPopulated(ctx), ...readMemoryEvents(ctx));
    } else if (memoryVersion === 1) {
      out.push(...readOomControl(ctx), ...readFailcnt(ctx), ...readReservation(ctx));
    }
    out.push(...readPidsEvents(ctx));
    // Baselines for the PSI wakes (taken at discovery, before the trigger is armed; triggers are v2 only).
    if (memoryVersion === 2) for (const resource of options.pressureResources ?? []) readStall(resource, at);
    return out;
  };

  const tracker: CgroupTracker = {
    cgroup,
    memoryVersion,
    counters,
    bornWatched: born,
    hasCpuQuota: () => quota,
    pollsPids: () => pidsPolled,
    sweepPids: (at) => readPidsEvents({ cgroup, at, source: "poll" }),
    refreshQuota,
    fileOf,
    handle(wake) {
      switch (wake.kind) {
        case "file_changed": {
          const ctx = { cgroup, at: wake.at, source: wake.source };
          switch (wake.file) {
            case "memory.events":
              return readMemoryEvents(ctx);
            case "memory.oom_control":
              return readOomControl(ctx);
            case "memory.failcnt":
              return readFailcnt(ctx);
            case "pids.events":
              return readPidsEvents(ctx);
            case "cgroup.events":
              return readPopulated(ctx);
            case "memory.usage_in_bytes":
            case "memory.soft_limit_in_bytes":
              return readReservation(ctx);
            case "cpu.stat":
              return sweepCpu(wake.at);
            default:
              report(wake.file, "no reader for this file");
              return [];
          }
        }
        case "threshold_crossed":
          return readReservation({ cgroup, at: wake.at, source: "eventfd" });
        case "pressure_level":
          return [{ kind: "memory_pressure", cgroup, at: wake.at, source: "eventfd", resource: "memory", level: wake.level }];
        case "psi_trigger":
          return pressureEvent(wake.resource, wake.trigger, { cgroup, at: wake.at, source: "psi" });
      }
    },
    sweepCounters,
    sweepCpu,
    sample(at) {
      const p = memoryVersion === 2 ? fileOf("memory", "memory.pressure") : null;
      const r = p === null ? null : reader.read(p);
      const psi = r?.kind === "ok" ? parsePsi(r.text) : null;
      if (psi?.kind !== "ok") return { kind: "sample", cgroup, at, source: "poll" };
      return { kind: "sample", cgroup, at, source: "poll", someAvg10: psi.value.some.avg10, ...(psi.value.full === null ? {} : { fullAvg10: psi.value.full.avg10 }) };
    },
    finalRead(at) {
      const out = sweepCounters(at, "poll");
      if (cpuVersion !== null && quota) out.push(...sweepCpu(at));
      return out;
    },
    close() {
      for (const d of dirs.values()) if (d !== null) reader.forgetDir(d.dir);
      // A removed cgroup's problems end with it.
      for (const f of troubled) options.onProblemCleared?.({ cgroup, file: f });
      troubled.clear();
    },
  };
  return tracker;
}
