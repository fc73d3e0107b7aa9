/**
 * pressure-relief: senpai-like memory.high control from PSI (cgroup v2).
 *
 * Two inputs, and each may move memory.high only one way:
 *  - `memory_pressure` (a PSI trigger fired): the kernel saw the stall grow
 *    past the trigger's threshold within its window. That is pressure, so
 *    memory.high is raised by `growPercent`, scaled up (at most x`maxGrowScale`)
 *    by how far the stall over the window (`event.stall`) exceeded the
 *    threshold; up to the memory limit (or `ceilingBytes` when unlimited).
 *    A pressure event never tightens: avg10 is not consulted, since it lags
 *    and often still reads 0.00 when a trigger first fires.
 *  - `sample` (periodic): the control loop on `some avg10` (percent of the
 *    last 10 s some task stalled on memory). Below `targetPct`: lower
 *    memory.high a little (at most `shrinkPercent` of it, scaled by how far
 *    below target), to find the working set by gentle reclaim; never below
 *    `minHighBytes` nor the reservation (memory.low). Above: raise it as above.
 * Changes smaller than `minChangeBytes` are skipped to avoid churn. cgroup v1
 * has no memory.high and no per-cgroup PSI: the policy does nothing there.
 *
 * Params: targetPct 0.1, shrinkPercent 1, growPercent 10, maxGrowScale 3,
 *         minHighBytes "128m", ceilingBytes "64g", minChangeBytes "1m".
 */

/** @type {import("./cgwatch-policy").PolicyMeta} */
export const meta = {
  name: "pressure-relief",
  description: "senpai-like: tighten memory.high while PSI is low, relax it when pressure rises (v2)",
  on: ["sample", "memory_pressure"],
  match: ["**"],
  // The control loop needs memory.high and per-cgroup PSI: v1 cgroups, and samples without PSI (a kernel
  // built or booted without it), are not sampled into this policy (it answers them with nothing).
  sampleOnly: ["memory_v2", "memory_psi"],
  cooldown: "6s",
  params: {
    targetPct: 0.1,
    shrinkPercent: 1,
    growPercent: 10,
    maxGrowScale: 3,
    minHighBytes: "128m",
    ceilingBytes: "64g",
    minChangeBytes: "1m",
  },
};

const UNITS = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
function bytes(v) {
  if (typeof v === "number") return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(String(v));
  if (!m) throw new Error("not a size: " + v);
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}
const PAGE = 4096;

/** How many times the trigger's threshold the stall over the window was (1 when unknown). */
function overThreshold(stall) {
  if (!stall || !(stall.overMs > 0) || !(stall.thresholdUs > 0) || !(stall.windowUs > 0)) return 1;
  const stalledFraction = stall.stallUs / (stall.overMs * 1000);
  return stalledFraction / (stall.thresholdUs / stall.windowUs);
}

/** memory.high raised by growPercent x scale, page-aligned, up to the ceiling; null when unthrottled. */
function relaxed(mem, p, ceiling, scale) {
  if (mem.highBytes === null) return null; // already unthrottled
  const grow = (p.growPercent * Math.min(Math.max(scale, 1), p.maxGrowScale ?? 1)) / 100;
  return Math.min(ceiling, Math.ceil((mem.highBytes * (1 + grow)) / PAGE) * PAGE);
}

/** memory.high lowered a little while the sampled pressure is below target; null when nothing to lower. */
function tightened(mem, p, ceiling, floor, pressure) {
  const base = mem.highBytes ?? mem.usageBytes;
  if (base === null) return null;
  const shrink = (base * p.shrinkPercent * (1 - pressure / p.targetPct)) / 100;
  return Math.max(floor, Math.floor((Math.min(base, ceiling) - shrink) / PAGE) * PAGE);
}

/** @type {import("./cgwatch-policy").OnEvent} */
export function onEvent(event, cgroup, ctx) {
  const mem = cgroup.memory;
  if (!mem || mem.version !== 2) return [];
  const p = ctx.params;
  const ceiling = mem.limitBytes ?? bytes(p.ceilingBytes);
  let next;
  let why;
  if (event.kind === "memory_pressure") {
    // A trigger fired: pressure, by the kernel's own measure. Only ever relax.
    const scale = overThreshold(event.stall);
    next = relaxed(mem, p, ceiling, scale);
    why = { trigger: event.trigger, stall: event.stall, scale };
    if (next === null || next <= mem.highBytes) return [];
  } else {
    const pressure = event.someAvg10;
    if (typeof pressure !== "number" || !(pressure >= 0)) return [];
    const floor = Math.max(bytes(p.minHighBytes), mem.reservationBytes ?? 0);
    next = pressure < p.targetPct ? tightened(mem, p, ceiling, floor, pressure) : relaxed(mem, p, ceiling, 1);
    why = { someAvg10: pressure };
    if (next === null) return [];
  }
  const current = mem.highBytes ?? Infinity;
  if (Math.abs(next - current) < bytes(p.minChangeBytes)) return [];
  ctx.log("debug", "adjusting memory.high", { ...why, event: event.kind, from: mem.highBytes, to: next });
  return [{ kind: "set_memory_high", bytes: next, allowBelowUsage: mem.usageBytes !== null && next < mem.usageBytes }];
}
