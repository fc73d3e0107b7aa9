/** A tracker's cpu.stat poll: throttling over the interval since the last read. */
import type { CgroupFiles } from "../cgroup/cgroupFiles.js";
import { parseCpuStat, type CpuStat } from "../cgroup/parse.js";
import { diffCpuStat } from "../events/diffCounters.js";
import type { WatchdogEvent } from "../events/types.js";
import type { TrackerProblems } from "./trackerProblems.js";

export interface CpuMemory {
  cpu: CpuStat | null;
  /** Last cpu.stat read time (ms), for the interval of the next diff. */
  cpuReadAt: number | null;
}

export function readCpuStat(
  files: CgroupFiles,
  state: CpuMemory,
  problems: TrackerProblems,
  at: number,
): WatchdogEvent[] {
  const parsed = files.parsed("cpu", "cpu.stat", parseCpuStat);
  if (parsed === null) return [];
  if (parsed.kind === "malformed") {
    problems.report("cpu.stat", parsed.reason);
    return [];
  }
  problems.parsedCleanly("cpu.stat");
  const interval = state.cpuReadAt === null ? 0 : (at - state.cpuReadAt) / 1000;
  const events = diffCpuStat(state.cpu, parsed.value, interval, { cgroup: files.cgroup, at, source: "poll" });
  state.cpu = parsed.value;
  state.cpuReadAt = at;
  return events;
}
