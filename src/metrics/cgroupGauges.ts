/**
 * A cgroup's settings and usage as gauges (from its snapshot and the few
 * figures the snapshot does not carry), and its block I/O counters and
 * throttles, whose device sets are replaced on each pass.
 */
import type { MemoryFigures } from "../cgroup/memoryStat.js";
import type { IoLimitDevice, IoStatDevice } from "../cgroup/parse.js";
import type { CgroupSnapshot, CpuSnapshot, MemorySnapshot } from "../cgroup/snapshot.js";
import type { Families } from "./families.js";
import { gauge, mirror } from "./seriesOps.js";
import type { CgroupEntry, Series } from "./store.js";

/** Gauges the snapshot does not carry. */
export interface CgroupStateExtra {
  /** v1 memory.kmem.usage_in_bytes. */
  readonly kernelMemoryBytes?: number | null;
  /** Number of CPUs in cpuset.cpus (effective). */
  readonly cpusetCpus?: number | null;
  /** Working set, rss and cache from memory.stat (cgroup/memoryStat.ts). */
  readonly memoryFigures?: MemoryFigures | null;
  /** Number of memory nodes in cpuset.mems (effective). */
  readonly cpusetMems?: number | null;
}

/**
 * One block device's absolute counters: v2 io.stat's shape, which the v1
 * blkio files are read into as well (watch/publishCgroup.ts).
 */
export type IoDeviceCounters = IoStatDevice;

function setMemoryGauges(f: Families, e: CgroupEntry, m: MemorySnapshot): void {
  gauge(e, f.usage, m.usageBytes);
  gauge(e, f.limit, m.limitBytes);
  // The snapshot carries the swap part on both versions; v1's file (and
  // this family) is memory+swap, so add the limit back.
  if (m.version === 1)
    gauge(e, f.memsw, m.swapLimitBytes === null || m.limitBytes === null ? null : m.limitBytes + m.swapLimitBytes);
  else gauge(e, f.swap, m.swapLimitBytes);
  gauge(e, f.reservation, m.reservationBytes);
  gauge(e, f.high, m.highBytes);
  gauge(e, f.swappiness, m.swappiness);
  gauge(e, f.oomKillDisable, m.oomKillDisable === null ? null : m.oomKillDisable ? 1 : 0);
  if (m.version === 1) gauge(e, f.underOom, m.underOom === null ? null : m.underOom ? 1 : 0);
  if (m.oomKills !== null) mirror(e.get(f.memoryEvents, ["oom_kill"]), m.oomKills);
}

function setCpuGauges(f: Families, e: CgroupEntry, c: CpuSnapshot): void {
  const hasQuota = c.quotaUs !== null && c.periodUs !== null && c.periodUs > 0;
  gauge(e, f.quotaCores, hasQuota ? (c.quotaUs ?? 0) / (c.periodUs ?? 1) : null);
  gauge(e, f.quotaSeconds, c.quotaUs === null ? null : c.quotaUs / 1e6);
  gauge(e, f.periodSeconds, c.periodUs === null ? null : c.periodUs / 1e6);
  gauge(e, f.burstSeconds, c.burstUs === null ? null : c.burstUs / 1e6);
  gauge(e, f.shares, c.shares);
  gauge(e, f.weight, c.weight);
  if (c.usageSeconds !== null) mirror(e.get(f.cpuUsage), c.usageSeconds);
}

/** Settings and usage gauges from a snapshot (and the oom_kill / cpu usage counters it carries). */
export function setCgroupState(f: Families, e: CgroupEntry, snap: CgroupSnapshot, extra: CgroupStateExtra): void {
  if (snap.memory !== null) setMemoryGauges(f, e, snap.memory);
  if (snap.cpu !== null) setCpuGauges(f, e, snap.cpu);
  const p = snap.pids;
  if (p !== null) {
    gauge(e, f.pidsCurrent, p.current);
    gauge(e, f.pidsMax, p.max);
  }
  if (extra.kernelMemoryBytes !== undefined) gauge(e, f.kernel, extra.kernelMemoryBytes);
  if (extra.cpusetCpus !== undefined) gauge(e, f.cpusetCpus, extra.cpusetCpus);
  if (extra.memoryFigures !== undefined) {
    gauge(e, f.workingSet, extra.memoryFigures?.workingSetBytes);
    gauge(e, f.rss, extra.memoryFigures?.rssBytes);
    gauge(e, f.cache, extra.memoryFigures?.cacheBytes);
  }
  if (extra.cpusetMems !== undefined) gauge(e, f.cpusetMems, extra.cpusetMems);
}

const deviceOf = (s: Series): string => /device="([^"]*)"/.exec(s.labels)?.[1] ?? "";

/** Replaces the cgroup's device set: devices absent from `devices` lose their series. */
export function setIoCounters(f: Families, e: CgroupEntry, devices: readonly IoDeviceCounters[]): void {
  const present = new Set(devices.map((d) => d.device));
  const keep = (s: Series): boolean => present.has(deviceOf(s));
  e.dropAllOf(f.ioBytes, keep);
  e.dropAllOf(f.ioOps, keep);
  for (const d of devices) {
    if (d.readBytes !== undefined) mirror(e.get(f.ioBytes, [d.device, "read"]), d.readBytes);
    if (d.writeBytes !== undefined) mirror(e.get(f.ioBytes, [d.device, "write"]), d.writeBytes);
    if (d.discardBytes !== undefined) mirror(e.get(f.ioBytes, [d.device, "discard"]), d.discardBytes);
    if (d.readOps !== undefined) mirror(e.get(f.ioOps, [d.device, "read"]), d.readOps);
    if (d.writeOps !== undefined) mirror(e.get(f.ioOps, [d.device, "write"]), d.writeOps);
    if (d.discardOps !== undefined) mirror(e.get(f.ioOps, [d.device, "discard"]), d.discardOps);
  }
}

/** Replaces the cgroup's I/O throttles: a limit no longer set loses its series. */
export function setIoLimits(f: Families, e: CgroupEntry, devices: readonly IoLimitDevice[]): void {
  const want = new Map<string, number>();
  for (const d of devices) {
    for (const [op, bytes, ops] of [
      ["read", d.readBps, d.readIops],
      ["write", d.writeBps, d.writeIops],
    ] as const) {
      if (bytes !== undefined) want.set(`b\0${d.device}\0${op}`, bytes);
      if (ops !== undefined) want.set(`o\0${d.device}\0${op}`, ops);
    }
  }
  const key = (kind: string, s: Series): string =>
    `${kind}\0${deviceOf(s)}\0${/op="([^"]*)"/.exec(s.labels)?.[1] ?? ""}`;
  e.dropAllOf(f.ioLimitBytes, (s) => want.has(key("b", s)));
  e.dropAllOf(f.ioLimitOps, (s) => want.has(key("o", s)));
  for (const [k, v] of want) {
    const [kind, device = "", op = ""] = k.split("\0");
    e.get(kind === "b" ? f.ioLimitBytes : f.ioLimitOps, [device, op]).value = v;
  }
}
