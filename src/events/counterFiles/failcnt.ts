/**
 * v1 memory.failcnt: times usage hit the limit. Its events are memory_max,
 * the v2 name of the same happening; its series keeps its own name
 * (`failcnt`), since it counts every failed charge. No notification: the
 * sweeps re-read it.
 */
import { parseInteger } from "../../cgroup/parse.js";
import { diffFailcnt } from "../diffCounters.js";
import { defineCounterFile } from "./counterFile.js";

export const failcnt = defineCounterFile({
  key: "failcnt",
  file: "memory.failcnt",
  controller: "memory",
  notify: { 1: "poll" },
  parse: parseInteger,
  zero: 0,
  diff: diffFailcnt,
  metric: { family: "memory_events", events: { memory_max: "failcnt" }, values: (v) => ({ failcnt: v }) },
});
