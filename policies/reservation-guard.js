/**
 * reservation-guard: push a cgroup that outgrew its reservation back toward it.
 *
 * On `reservation_breach` with `above: true` (usage crossed the v1 soft limit /
 * v2 memory.low):
 *  - v1: lower `memory.swappiness` to `swappiness` (default 10) if it is higher,
 *    so the kernel reclaims page cache before swapping the workload out;
 *  - v2: tighten `memory.high` toward the reservation by a bounded step
 *    (`stepPercent` of the current high, at most `stepBytes`), never below the
 *    reservation nor below `minHighBytes`. memory.high throttles and reclaims;
 *    it never OOM-kills.
 *
 * Params: swappiness 10, stepPercent 10, stepBytes "256m", minHighBytes "64m".
 */

/** @type {import("./cgwatch-policy").PolicyMeta} */
export const meta = {
  name: "reservation-guard",
  description: "on reservation breach: lower swappiness (v1) or tighten memory.high toward the reservation (v2)",
  on: ["reservation_breach"],
  match: ["**"],
  cooldown: "30s",
  params: { swappiness: 10, stepPercent: 10, stepBytes: "256m", minHighBytes: "64m" },
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
  if (event.kind !== "reservation_breach" || !event.above) return [];
  const mem = cgroup.memory;
  if (!mem) return [];
  if (mem.version === 1) {
    const target = ctx.params.swappiness;
    if (mem.swappiness !== null && mem.swappiness <= target) return [];
    return [{ kind: "set_swappiness", value: target }];
  }
  const reservation = event.reservationBytes;
  const usage = event.usageBytes;
  const current = mem.highBytes ?? mem.limitBytes ?? usage;
  const floor = Math.max(reservation, bytes(ctx.params.minHighBytes));
  if (current <= floor) return [];
  const step = Math.min((current * ctx.params.stepPercent) / 100, bytes(ctx.params.stepBytes));
  const next = Math.max(floor, Math.floor((current - step) / PAGE) * PAGE);
  if (next >= current) return [];
  ctx.log("info", "tightening memory.high toward the reservation", { from: current, to: next, reservation });
  return [{ kind: "set_memory_high", bytes: next, allowBelowUsage: next < usage }];
}
