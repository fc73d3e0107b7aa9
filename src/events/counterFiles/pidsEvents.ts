/**
 * pids.events: forks refused at pids.max. v2 raises inotify on it; v1 sends
 * nothing (measured on 6.18), so a v1 cgroup with a pids.max has it polled
 * (CgroupTracker.pollsPids).
 */
import { parsePidsEvents } from "../../cgroup/parse.js";
import { diffPidsEvents } from "../diffCounters.js";
import { defineCounterFile } from "./counterFile.js";

export const pidsEvents = defineCounterFile({
  key: "pidsMax",
  file: "pids.events",
  controller: "pids",
  notify: { 1: "poll", 2: "inotify" },
  keptOnlyWhenPolled: true,
  parse: parsePidsEvents,
  zero: 0,
  diff: diffPidsEvents,
  metric: { family: "pids_events", events: { pids_max: "max" }, values: (v) => ({ max: v }) },
});
