/**
 * Reads the read-only cgroup snapshot handed to policies with each event.
 * Done on demand (only when some policy wants the event) through the shared
 * pread reader; an absent file (older kernel, controller not enabled) is
 * null, never an error.
 */
import path from "node:path";
import type { CgroupLayout, Controller } from "../cgroup/layout.js";
import { cgroupDir } from "../cgroup/paths.js";
import { parseCpuMax, parseCpuStat, parseInteger, parseLimit, parseOomControl, parseTimeCounter, safeCount } from "../cgroup/parse.js";
import type { FileReader } from "../cgroup/read.js";
import type { CgroupSnapshot, CpuSnapshot, MemorySnapshot, PidsSnapshot } from "../cgroup/snapshot.js";

/** runc's shares → weight conversion, inverted, so policies see one unit on v1 and v2. */
export function weightToShares(weight: number): number {
  return Math.round(2 + ((weight - 1) * 262142) / 9999);
}

/**
 * `cached` reads through the reader's kept fds (the event → action path,
 * where every microsecond is latency); `once` opens and closes (periodic
 * samples and metrics passes, which must not evict the hot fds).
 */
export type SnapshotReads = "cached" | "once";

export function readSnapshot(
  layout: CgroupLayout,
  reader: FileReader,
  cgroup: string,
  labels: Readonly<Record<string, string>> = {},
  reads: SnapshotReads = "cached",
): CgroupSnapshot {
  const text = (c: Controller, file: string): string | null => {
    const d = cgroupDir(layout, cgroup, c);
    if (d === null) return null;
    const p = path.join(d.dir, file);
    const r = reads === "cached" ? reader.read(p) : reader.readOnce(p);
    return r.kind === "ok" ? r.text : null;
  };
  const int = (c: Controller, file: string): number | null => {
    const t = text(c, file);
    if (t === null) return null;
    const p = parseInteger(t);
    return p.kind === "ok" ? p.value : null;
  };
  const limit = (c: Controller, file: string): number | null => {
    const t = text(c, file);
    if (t === null) return null;
    const p = parseLimit(t);
    return p.kind === "ok" ? p.value : null;
  };

  const mem = cgroupDir(layout, cgroup, "memory");
  let memory: MemorySnapshot | null = null;
  if (mem !== null && mem.location.version === 1) {
    const oc = text("memory", "memory.oom_control");
    const oom = oc === null ? null : parseOomControl(oc);
    const memsw = limit("memory", "memory.memsw.limit_in_bytes");
    const lim = limit("memory", "memory.limit_in_bytes");
    memory = {
      version: 1,
      usageBytes: int("memory", "memory.usage_in_bytes"),
      limitBytes: lim,
      // v1 memsw is memory+swap; present the swap part so policies see one meaning.
      swapLimitBytes: memsw === null || lim === null ? null : Math.max(0, memsw - lim),
      reservationBytes: limit("memory", "memory.soft_limit_in_bytes"),
      highBytes: null,
      swappiness: int("memory", "memory.swappiness"),
      oomKillDisable: oom?.kind === "ok" ? oom.value.oomKillDisable : null,
      underOom: oom?.kind === "ok" ? oom.value.underOom : null,
      oomKills: oom?.kind === "ok" ? oom.value.oomKill : null,
    };
  } else if (mem !== null) {
    const ev = text("memory", "memory.events");
    const kills = ev === null ? null : /(?:^|\n)oom_kill (\d+)/.exec(ev);
    const low = limit("memory", "memory.low");
    memory = {
      version: 2,
      usageBytes: int("memory", "memory.current"),
      limitBytes: limit("memory", "memory.max"),
      swapLimitBytes: limit("memory", "memory.swap.max"),
      reservationBytes: low === 0 ? null : low,
      highBytes: limit("memory", "memory.high"),
      swappiness: null,
      oomKillDisable: null,
      underOom: null,
      oomKills: kills?.[1] === undefined ? null : safeCount(kills[1]),
    };
  }

  const cpuLoc = cgroupDir(layout, cgroup, "cpu");
  let cpu: CpuSnapshot | null = null;
  if (cpuLoc !== null && cpuLoc.location.version === 1) {
    // ns: passes 2^53 after 104 days of CPU time, so read as a time counter (approximate), not an exact integer.
    const usageText = text("cpuacct", "cpuacct.usage");
    const usage = usageText === null ? null : parseTimeCounter(usageText);
    const usageNs = usage?.kind === "ok" ? usage.value : null;
    const shares = int("cpu", "cpu.shares");
    cpu = {
      version: 1,
      quotaUs: limit("cpu", "cpu.cfs_quota_us"),
      periodUs: int("cpu", "cpu.cfs_period_us"),
      burstUs: int("cpu", "cpu.cfs_burst_us"),
      shares,
      weight: null,
      usageSeconds: usageNs === null ? null : usageNs / 1e9,
    };
  } else if (cpuLoc !== null) {
    const max = text("cpu", "cpu.max");
    const parsed = max === null ? null : parseCpuMax(max);
    const stat = text("cpu", "cpu.stat");
    const st = stat === null ? null : parseCpuStat(stat);
    const weight = int("cpu", "cpu.weight");
    cpu = {
      version: 2,
      quotaUs: parsed?.kind === "ok" ? parsed.value.quotaUs : null,
      periodUs: parsed?.kind === "ok" ? parsed.value.periodUs : null,
      burstUs: int("cpu", "cpu.max.burst"),
      shares: weight === null ? null : weightToShares(weight),
      weight,
      usageSeconds: st?.kind === "ok" ? st.value.usageSeconds : null,
    };
  }

  const pidsLoc = cgroupDir(layout, cgroup, "pids");
  const pids: PidsSnapshot | null = pidsLoc === null ? null : { current: int("pids", "pids.current"), max: limit("pids", "pids.max") };
  return { path: cgroup, labels, memory, cpu, pids };
}
