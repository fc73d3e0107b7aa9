/**
 * Reads the read-only cgroup snapshot handed to policies with each event.
 * Done on demand (only when some policy wants the event) through the shared
 * pread reader; an absent file (older kernel, controller not enabled) is
 * null, never an error.
 */
import { cgroupFiles, type CgroupFiles, type ReadMode } from "../cgroup/cgroupFiles.js";
import type { CgroupLayout } from "../cgroup/layout.js";
import {
  flatKeyedValue,
  parseCpuMax,
  parseCpuStat,
  parseInteger,
  parseLimit,
  parseOomControl,
  parseTimeCounter,
  type Parsed,
} from "../cgroup/parse.js";
import type { FileReader } from "../cgroup/read.js";
import type { CgroupSnapshot, CpuSnapshot, MemorySnapshot, PidsSnapshot } from "../cgroup/snapshot.js";

/** runc's shares → weight conversion, inverted, so policies see one unit on v1 and v2. */
export function weightToShares(weight: number): number {
  return Math.round(2 + ((weight - 1) * 262142) / 9999);
}

/** `cached` (the event → action path) or `once` (periodic samples and metrics passes): see cgroup/cgroupFiles.ts. */
export type SnapshotReads = ReadMode;

/** memory.events' oom_kill, whatever else the file has or lacks. */
function oomKillOf(text: string): Parsed<number> {
  const v = flatKeyedValue(text, "oom_kill");
  return v === undefined ? { kind: "malformed", reason: "no oom_kill" } : { kind: "ok", value: v };
}

function memoryV1(files: CgroupFiles): MemorySnapshot {
  const oom = files.value("memory", "memory.oom_control", parseOomControl);
  const memsw = files.value("memory", "memory.memsw.limit_in_bytes", parseLimit);
  const lim = files.value("memory", "memory.limit_in_bytes", parseLimit);
  return {
    version: 1,
    usageBytes: files.value("memory", "memory.usage_in_bytes", parseInteger),
    limitBytes: lim,
    // v1 memsw is memory+swap; present the swap part so policies see one meaning.
    swapLimitBytes: memsw === null || lim === null ? null : Math.max(0, memsw - lim),
    reservationBytes: files.value("memory", "memory.soft_limit_in_bytes", parseLimit),
    highBytes: null,
    swappiness: files.value("memory", "memory.swappiness", parseInteger),
    oomKillDisable: oom === null ? null : oom.oomKillDisable,
    underOom: oom === null ? null : oom.underOom,
    oomKills: oom === null ? null : oom.oomKill,
  };
}

function memoryV2(files: CgroupFiles): MemorySnapshot {
  const low = files.value("memory", "memory.low", parseLimit);
  return {
    version: 2,
    usageBytes: files.value("memory", "memory.current", parseInteger),
    limitBytes: files.value("memory", "memory.max", parseLimit),
    swapLimitBytes: files.value("memory", "memory.swap.max", parseLimit),
    reservationBytes: low === 0 ? null : low,
    highBytes: files.value("memory", "memory.high", parseLimit),
    swappiness: null,
    oomKillDisable: null,
    underOom: null,
    oomKills: files.value("memory", "memory.events", oomKillOf),
  };
}

function cpuV1(files: CgroupFiles): CpuSnapshot {
  // ns: passes 2^53 after 104 days of CPU time, so read as a time counter (approximate), not an exact integer.
  const usageNs = files.value("cpuacct", "cpuacct.usage", parseTimeCounter);
  return {
    version: 1,
    quotaUs: files.value("cpu", "cpu.cfs_quota_us", parseLimit),
    periodUs: files.value("cpu", "cpu.cfs_period_us", parseInteger),
    burstUs: files.value("cpu", "cpu.cfs_burst_us", parseInteger),
    shares: files.value("cpu", "cpu.shares", parseInteger),
    weight: null,
    usageSeconds: usageNs === null ? null : usageNs / 1e9,
  };
}

function cpuV2(files: CgroupFiles): CpuSnapshot {
  const max = files.value("cpu", "cpu.max", parseCpuMax);
  const weight = files.value("cpu", "cpu.weight", parseInteger);
  return {
    version: 2,
    quotaUs: max === null ? null : max.quotaUs,
    periodUs: max === null ? null : max.periodUs,
    burstUs: files.value("cpu", "cpu.max.burst", parseInteger),
    shares: weight === null ? null : weightToShares(weight),
    weight,
    usageSeconds: files.value("cpu", "cpu.stat", parseCpuStat)?.usageSeconds ?? null,
  };
}

/** Most cgroups whose located files are kept for the event path (a few hundred bytes of paths each). */
const KEPT_CGROUPS = 256;
const keptFiles = new WeakMap<
  FileReader,
  { readonly layout: CgroupLayout; readonly byCgroup: Map<string, CgroupFiles> }
>();

/**
 * The cgroup's files for `reads`. A CgroupFiles holds only what follows from
 * the layout and the name (located directories, joined paths; every read goes
 * to the reader), so for the event path the last KEPT_CGROUPS cgroups' are
 * reused: building one costs a path join per file, ~10 KB per event. Samples
 * and metrics passes sweep every cgroup once and would only churn it.
 */
function filesFor(layout: CgroupLayout, reader: FileReader, cgroup: string, reads: SnapshotReads): CgroupFiles {
  if (reads !== "cached") return cgroupFiles(layout, reader, cgroup, reads);
  let kept = keptFiles.get(reader);
  if (kept === undefined || kept.layout !== layout) {
    kept = { layout, byCgroup: new Map() };
    keptFiles.set(reader, kept);
  }
  let files = kept.byCgroup.get(cgroup);
  if (files !== undefined) {
    kept.byCgroup.delete(cgroup); // most recently used last
  } else {
    files = cgroupFiles(layout, reader, cgroup, reads);
    if (kept.byCgroup.size >= KEPT_CGROUPS) {
      const oldest = kept.byCgroup.keys().next();
      if (oldest.done !== true) kept.byCgroup.delete(oldest.value);
    }
  }
  kept.byCgroup.set(cgroup, files);
  return files;
}

/** `files`: the cgroup's files as the caller already reads them (the metrics pass shares its reads with the snapshot). */
export function readSnapshot(
  layout: CgroupLayout,
  reader: FileReader,
  cgroup: string,
  labels: Readonly<Record<string, string>> = {},
  reads: SnapshotReads = "cached",
  files: CgroupFiles = filesFor(layout, reader, cgroup, reads),
): CgroupSnapshot {
  const memoryVersion = files.versionOf("memory");
  const cpuVersion = files.versionOf("cpu");
  const memory = memoryVersion === null ? null : memoryVersion === 1 ? memoryV1(files) : memoryV2(files);
  const cpu = cpuVersion === null ? null : cpuVersion === 1 ? cpuV1(files) : cpuV2(files);
  const pids: PidsSnapshot | null =
    files.versionOf("pids") === null
      ? null
      : {
          current: files.value("pids", "pids.current", parseInteger),
          max: files.value("pids", "pids.max", parseLimit),
        };
  return { path: cgroup, labels, memory, cpu, pids };
}
