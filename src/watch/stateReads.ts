/**
 * Reads of state (not counters) whose changes matter to the tracker:
 * cgroup.events `populated` (an emptied cgroup's final counters must be
 * read now) and, on v1, usage against the soft limit (the reservation).
 */
import type { CgroupFiles } from "../cgroup/cgroupFiles.js";
import { parseFlatKeyed, parseInteger, parseLimit } from "../cgroup/parse.js";
import { diffReservation, type ReadContext } from "../events/diffCounters.js";
import type { WatchdogEvent } from "../events/types.js";

export interface StateMemory {
  reservationAbove: boolean | null;
  populated: boolean | null;
}

/** Usage crossing the v1 soft limit. v2 reports reservation pressure itself (memory.events low/high). */
export function readReservation(files: CgroupFiles, state: StateMemory, ctx: ReadContext): WatchdogEvent[] {
  if (files.versionOf("memory") !== 1) return [];
  const usage = files.text("memory", "memory.usage_in_bytes");
  const soft = files.text("memory", "memory.soft_limit_in_bytes");
  if (usage === null || soft === null) return [];
  const u = parseInteger(usage);
  const s = parseLimit(soft);
  if (u.kind !== "ok" || s.kind !== "ok") return [];
  const r = diffReservation(state.reservationAbove, u.value, s.value, ctx);
  state.reservationAbove = r.above;
  return r.events;
}

/**
 * cgroup.events `populated`. Emptied: the last task is gone and the cgroup
 * may be removed any moment; `onEmptied` reads its counters now or its
 * final oom_kill is lost.
 */
export function readPopulated(
  files: CgroupFiles,
  state: StateMemory,
  ctx: ReadContext,
  onEmptied: (ctx: ReadContext) => WatchdogEvent[],
): WatchdogEvent[] {
  // One-shot: it changes when the last task leaves, so a kept fd would take the budget from the counters.
  const r = files.readOnce("memory", "cgroup.events") ?? files.readOnce("cpu", "cgroup.events");
  if (r === null || r.kind !== "ok") return [];
  const populated = parseFlatKeyed(r.text).values.get("populated");
  if (populated === undefined) return [];
  const was = state.populated;
  state.populated = populated !== 0;
  return was === true && populated === 0 ? onEmptied(ctx) : [];
}
