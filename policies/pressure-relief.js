/**
 * pressure-relief: senpai-like memory.high control from PSI (cgroup v2).
 *
 * On `sample` and `memory_pressure` events that carry PSI `someAvg10` (percent
 * of the last 10 s some task stalled on memory):
 *  - pressure below `targetPct`: lower memory.high a little (at most
 *    `shrinkPercent` of it, scaled by how far below target pressure is), to
 *    find the working set by gentle reclaim; never below `minHighBytes` nor the
 *    reservation (memory.low);
 *  - pressure above `targetPct`: raise memory.high by `growPercent`, up to the
 *    memory limit (or `ceilingBytes` when unlimited).
 * Changes smaller than `minChangeBytes` are skipped to avoid churn. cgroup v1
 * has no memory.high and no per-cgroup PSI: the policy does nothing there.
 *
 * Params: targetPct 0.1, shrinkPercent 1, growPercent 10,
 *         minHighBytes "128m", ceilingBytes "64g", minChangeBytes "1m".
 */

/** @type {import("./cgwatch-policy").PolicyMeta} */
export const meta = {
  name: "pressure-relief",
  description: "senpai-like: tighten memory.high while PSI is low, relax it when pressure rises (v2)",
  on: ["sample", "memory_pressure"],
  match: ["**"],
  cooldown: "6s",
  params: { targetPct: 0.1, shrinkPercent: 1, growPercent: 10, minHighBytes: "128m", ceilingBytes: "64g", minChangeBytes: "1m" },
};

const UNITS = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
function bytes(v) {
  if (typeof v === "number") return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(String(v));
  if (!m) throw new Error("not a size: " + v);
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}
const PAGE = 4096;

/** @type {import("./cgwatch-policy").OnEvent} */
export function onEvent(event, cgroup, ctx) {
  const mem = cgroup.memory;
  if (!mem || mem.version !== 2) return [];
  const pressure = event.someAvg10;
  if (typeof pressure !== "number" || !(pressure >= 0)) return [];
  const p = ctx.params;
  const ceiling = mem.limitBytes ?? bytes(p.ceilingBytes);
  const floor = Math.max(bytes(p.minHighBytes), mem.reservationBytes ?? 0);
  let next;
  if (pressure < p.targetPct) {
    const base = mem.highBytes ?? mem.usageBytes;
    if (base === null) return [];
    const shrink = (base * p.shrinkPercent * (1 - pressure / p.targetPct)) / 100;
    next = Math.max(floor, Math.floor((Math.min(base, ceiling) - shrink) / PAGE) * PAGE);
  } else {
    if (mem.highBytes === null) return []; // already unthrottled
    next = Math.min(ceiling, Math.ceil((mem.highBytes * (1 + p.growPercent / 100)) / PAGE) * PAGE);
  }
  const current = mem.highBytes ?? Infinity;
  if (Math.abs(next - current) < bytes(p.minChangeBytes)) return [];
  ctx.log("debug", "adjusting memory.high", { pressure, from: mem.highBytes, to: next });
  return [{ kind: "set_memory_high", bytes: next, allowBelowUsage: mem.usageBytes !== null && next < mem.usageBytes }];
}
