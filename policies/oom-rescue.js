/**
 * oom-rescue: give a cgroup that is about to be OOM-killed a little more memory.
 *
 * Fires on
 *  - v1 `under_oom` with `underOom: true` (tasks stalled because `oom_kill_disable`
 *    is set: raising the limit releases them), and
 *  - v2 `memory_max` / `memory_high` / `oom` while usage is within `nearRatio` of
 *    the limit (memory.max).
 * Raises the memory limit by `stepPercent` of the current limit, at most
 * `stepBytes`, never above `ceilingBytes`. Does nothing when the cgroup is
 * unlimited or already at the ceiling (then it logs a warning).
 *
 * A v1 stall is an emergency: cgwatch offers it on every kernel notification
 * (each re-stall after a raise that was not enough) and again while it lasts,
 * and neither this policy's cooldown nor the guardrail cooldown holds it back,
 * so a hog that needs several raises gets them one per stall, within
 * seconds. The cooldown still spaces out the v2 answers. A stall nothing
 * answers (at the ceiling) is logged and counted by cgwatch itself.
 *
 * Params (sizes are bytes or Docker-style strings: "512m", "8g"):
 *   stepPercent  25     raise by this share of the current limit
 *   stepBytes    "1g"   ... but never by more than this
 *   ceilingBytes "8g"   never raise above this
 *   nearRatio    0.9    v2: act only when usage >= nearRatio x limit
 *
 * @typedef {import("./cgwatch-policy").OnEvent} OnEvent
 */

/** @type {import("./cgwatch-policy").PolicyMeta} */
export const meta = {
  name: "oom-rescue",
  description: "raise the memory limit of a cgroup near OOM by a bounded step, up to a ceiling",
  on: ["under_oom", "memory_max", "memory_high", "oom"],
  match: ["**"],
  cooldown: "30s",
  params: { stepPercent: 25, stepBytes: "1g", ceilingBytes: "8g", nearRatio: 0.9 },
};

const UNITS = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
function bytes(v) {
  if (typeof v === "number") return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(String(v));
  if (!m) throw new Error("not a size: " + v);
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}
const PAGE = 4096;

/** @type {OnEvent} */
export function onEvent(event, cgroup, ctx) {
  const mem = cgroup.memory;
  if (!mem || mem.limitBytes === null) return [];
  if (event.kind === "under_oom") {
    if (!event.underOom) return [];
  } else {
    if (mem.version !== 2 || mem.usageBytes === null) return [];
    if (mem.usageBytes < ctx.params.nearRatio * mem.limitBytes) return [];
  }
  const limit = mem.limitBytes;
  const ceiling = bytes(ctx.params.ceilingBytes);
  if (limit >= ceiling) {
    ctx.log("warn", "at the ceiling; not raising", { limit, ceiling });
    return [];
  }
  const step = Math.min((limit * ctx.params.stepPercent) / 100, bytes(ctx.params.stepBytes));
  const next = Math.min(ceiling, Math.ceil((limit + step) / PAGE) * PAGE);
  if (next <= limit) return [];
  ctx.log("info", "raising memory limit", { from: limit, to: next, event: event.kind });
  return [{ kind: "set_memory_limit", bytes: next }];
}
