/**
 * A tracker's PSI reads: the stall totals kept for the trigger wakes to
 * diff against, the wake itself (pressure or not), and the periodic sample.
 */
import type { CgroupFiles } from "../cgroup/cgroupFiles.js";
import type { Controller } from "../cgroup/layout.js";
import { parseFlatKeyed, parsePsi, type Parsed, type Psi } from "../cgroup/parse.js";
import type { ReadContext } from "../events/diffCounters.js";
import { judgePsiWake, recordStall, stallReading, type StallReading } from "../events/diffPressure.js";
import type { PressureResource, WatchdogEvent } from "../events/types.js";
import type { TrackerProblems } from "./trackerProblems.js";

const PRESSURE_FILE: Readonly<Record<PressureResource, string>> = {
  memory: "memory.pressure",
  cpu: "cpu.pressure",
  io: "io.pressure",
};
const PRESSURE_CONTROLLER: Readonly<Record<PressureResource, Controller>> = { memory: "memory", cpu: "cpu", io: "io" };

export interface PressureReads {
  /** Reads a resource's stall total into the history the wakes diff against. */
  readonly readStall: (resource: PressureResource, at: number) => Parsed<Psi> | null;
  /** A PSI trigger woke: an event if the stall total grew (see below). */
  readonly pressureEvent: (resource: PressureResource, trigger: string, ctx: ReadContext) => WatchdogEvent[];
  /** A periodic `sample` event, with memory PSI where the kernel has it (v2). */
  readonly sample: (at: number) => WatchdogEvent;
}

export function pressureReads(files: CgroupFiles, problems: TrackerProblems): PressureReads {
  const cgroup = files.cgroup;
  const stalls = new Map<PressureResource, StallReading[]>();
  const readStall = (resource: PressureResource, at: number): Parsed<Psi> | null => {
    const file = PRESSURE_FILE[resource];
    const psi = files.parsed(PRESSURE_CONTROLLER[resource], file, parsePsi);
    if (psi === null) return null;
    if (psi.kind === "malformed") problems.report(file, psi.reason);
    else {
      problems.parsedCleanly(file);
      stalls.set(resource, recordStall(stalls.get(resource) ?? [], stallReading(at, psi.value)));
    }
    return psi;
  };

  /**
   * It is pressure only if the cgroup still has tasks and the stall total
   * grew over the trigger's window: on 6.1 an rmdir wakes every trigger of
   * the cgroup (the pressure file is then gone or still), and that is no
   * event, so no policy acts on a vanishing cgroup.
   */
  const pressureEvent = (resource: PressureResource, trigger: string, ctx: ReadContext): WatchdogEvent[] => {
    const events = files.read("memory", "cgroup.events") ?? files.read(PRESSURE_CONTROLLER[resource], "cgroup.events");
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

  const sample = (at: number): WatchdogEvent => {
    const psi = files.versionOf("memory") === 2 ? files.parsed("memory", "memory.pressure", parsePsi) : null;
    if (psi?.kind !== "ok") return { kind: "sample", cgroup, at, source: "poll" };
    return {
      kind: "sample",
      cgroup,
      at,
      source: "poll",
      someAvg10: psi.value.some.avg10,
      ...(psi.value.full === null ? {} : { fullAvg10: psi.value.full.avg10 }),
    };
  };

  return { readStall, pressureEvent, sample };
}
