/** v2 memory.events: the memory controller's event counters, each key an event kind of its own. */
import { parseMemoryEvents } from "../../cgroup/parse.js";
import { MEMORY_EVENT_KIND, diffMemoryEvents } from "../diffCounters.js";
import type { CounterEventKind } from "./counterFile.js";
import { defineCounterFile } from "./counterFile.js";

/** Each kind raises the series of its own key: memory_low → low, … */
const MIRRORS: Partial<Record<CounterEventKind, string>> = Object.fromEntries(
  Object.entries(MEMORY_EVENT_KIND).map(([key, kind]) => [kind, key]),
);

export const memoryEvents = defineCounterFile({
  key: "memoryEvents",
  file: "memory.events",
  controller: "memory",
  notify: { 2: "inotify" },
  parse: parseMemoryEvents,
  zero: { low: 0, high: 0, max: 0, oom: 0, oom_kill: 0, oom_group_kill: 0 },
  diff: diffMemoryEvents,
  metric: { family: "memory_events", events: MIRRORS, values: (v) => v },
});
