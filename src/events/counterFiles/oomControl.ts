/**
 * v1 memory.oom_control: the OOM kill counter (4.13+) and the standing
 * stall under OOM (`under_oom`, with `oom_kill_disable`). An eventfd
 * registered on it wakes the tracker (sources/v1Notifications.ts).
 */
import { parseOomControl } from "../../cgroup/parse.js";
import { diffOomControl } from "../diffCounters.js";
import { defineCounterFile } from "./counterFile.js";

export const oomControl = defineCounterFile({
  key: "oomControl",
  file: "memory.oom_control",
  controller: "memory",
  notify: { 1: "eventfd" },
  parse: parseOomControl,
  zero: { oomKillDisable: false, underOom: false, oomKill: 0 },
  diff(prev, next, ctx, state) {
    const r = diffOomControl(prev, next, state.stall, ctx);
    state.stall = r.stall;
    // A notification's follow-up re-reads end once its kill is counted (watcher.ts).
    for (const e of r.events) if (e.kind === "oom_kill") state.oomKillSeenAt = ctx.at;
    return r.events;
  },
  metric: {
    family: "memory_events",
    events: { oom_kill: "oom_kill" },
    values: (v): Readonly<Record<string, number>> => (v.oomKill === null ? {} : { oom_kill: v.oomKill }),
    gauges: (v, cgroup, sink) => sink.setUnderOom(cgroup, v.underOom),
  },
});
