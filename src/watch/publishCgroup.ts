/**
 * One cgroup's metrics pass: its settings and usage gauges (from the
 * snapshot), the counter files' last values (from the tracker, as the
 * counter file table says to mirror them), cpu.stat, PSI totals and block
 * I/O, each read once (one-shot, not through the kept fds) and parsed by
 * the shared parsers.
 */
import { cgroupFiles, readEachOnce, type CgroupFiles } from "../cgroup/cgroupFiles.js";
import type { CgroupLayout } from "../cgroup/layout.js";
import { memoryFigures } from "../cgroup/memoryStat.js";
import {
  parseBlkioLines,
  parseCpuStatCounters,
  parseInteger,
  parseIoLimitsV1,
  parseIoMax,
  parseIoStat,
  parsePsi,
} from "../cgroup/parse.js";
import type { FileReader } from "../cgroup/read.js";
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import type { CounterFiles } from "../events/counterFiles/index.js";
import type { PressureResource } from "../events/types.js";
import type { Metrics } from "../metrics/metrics.js";
import { readSnapshot } from "./snapshot.js";
import type { CgroupTracker } from "./tracker.js";

export interface PublishContext {
  readonly layout: CgroupLayout;
  readonly reader: FileReader;
  readonly metrics: Metrics;
  readonly counterFiles: CounterFiles;
  readonly labelsOf: (cgroup: string) => Readonly<Record<string, string>>;
}

/** Number of CPUs (or memory nodes) in a cpuset list such as "0-3,8". */
export function countCpus(list: string): number | null {
  let n = 0;
  for (const part of list.trim().split(",")) {
    if (part === "") continue;
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || Number.isNaN(a)) return null;
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

function publishSettings(files: CgroupFiles, t: CgroupTracker, snapshot: CgroupSnapshot, metrics: Metrics): void {
  const v2 = t.memoryVersion === 2;
  const cpuset = files.text("cpuset", v2 ? "cpuset.cpus.effective" : "cpuset.cpus");
  const mems = files.text("cpuset", v2 ? "cpuset.mems.effective" : "cpuset.mems");
  const kmem = t.memoryVersion === 1 ? files.value("memory", "memory.kmem.usage_in_bytes", parseInteger) : null;
  const stat = t.memoryVersion === null ? null : files.text("memory", "memory.stat");
  metrics.setCgroupState(t.cgroup, snapshot, {
    memoryFigures:
      stat === null || t.memoryVersion === null
        ? null
        : memoryFigures(t.memoryVersion, snapshot.memory?.usageBytes ?? null, stat),
    cpusetCpus: cpuset === null ? null : countCpus(cpuset),
    cpusetMems: mems === null ? null : countCpus(mems),
    ...(kmem === null ? {} : { kernelMemoryBytes: kmem }),
  });
}

/** The last values the tracker read, mirrored as the table declares: a missed notification's counter is repaired here. */
function publishCounters(t: CgroupTracker, table: CounterFiles, metrics: Metrics): void {
  const values = t.counters as unknown as Readonly<Record<string, unknown>>;
  for (const def of table.all) {
    const v = values[def.key];
    if (v === null || v === undefined) continue;
    metrics.mirrorCounters(t.cgroup, def.metric.family, def.metric.values(v));
    def.metric.gauges?.(v, t.cgroup, metrics);
  }
}

function publishCpu(files: CgroupFiles, snapshot: CgroupSnapshot, metrics: Metrics): void {
  const stat = files.value("cpu", "cpu.stat", parseCpuStatCounters);
  if (stat === null) return;
  const usage = snapshot.cpu?.usageSeconds ?? null;
  metrics.setCpuCounters(files.cgroup, { ...(usage === null ? {} : { usageSeconds: usage }), ...stat });
}

function publishPressure(files: CgroupFiles, metrics: Metrics): void {
  for (const resource of ["memory", "cpu", "io"] as const satisfies readonly PressureResource[]) {
    const psi = files.value(resource, `${resource}.pressure`, parsePsi);
    if (psi !== null)
      metrics.setPressureCounters(files.cgroup, resource, {
        some: psi.some.totalUs / 1e6,
        ...(psi.full === null ? {} : { full: psi.full.totalUs / 1e6 }),
      });
  }
}

/** Throttles: v2 io.max, else v1's four blkio.throttle.*_device files. */
function publishIoLimits(files: CgroupFiles, metrics: Metrics): void {
  const ioMax = files.text("io", "io.max");
  if (ioMax !== null) return metrics.setIoLimits(files.cgroup, parseIoMax(ioMax));
  // A v2 hierarchy has no blkio.* files: six failed opens per cgroup and pass otherwise.
  if (files.versionOf("blkio") !== 1) return;
  const v1 = (file: string): string | null => files.text("blkio", `blkio.throttle.${file}_device`);
  const limits = {
    readBps: v1("read_bps"),
    writeBps: v1("write_bps"),
    readIops: v1("read_iops"),
    writeIops: v1("write_iops"),
  };
  if (Object.values(limits).some((x) => x !== null)) metrics.setIoLimits(files.cgroup, parseIoLimitsV1(limits));
}

/** Counters: v2 io.stat, else v1 blkio.throttle.io_service_bytes and io_serviced. */
function publishIoCounters(files: CgroupFiles, metrics: Metrics): void {
  const ioStat = files.text("io", "io.stat");
  if (ioStat !== null) return metrics.setIoCounters(files.cgroup, parseIoStat(ioStat));
  if (files.versionOf("blkio") !== 1) return;
  const bytes = files.text("blkio", "blkio.throttle.io_service_bytes");
  const ops = files.text("blkio", "blkio.throttle.io_serviced");
  if (bytes === null && ops === null) return;
  const b = parseBlkioLines(bytes ?? "");
  const o = parseBlkioLines(ops ?? "");
  const op = (m: Map<string, Record<string, number>>, device: string, key: string): number | undefined =>
    m.get(device)?.[key];
  const devices = [...new Set([...b.keys(), ...o.keys()])].map((device) => {
    const [readBytes, writeBytes, readOps, writeOps] = [
      op(b, device, "Read"),
      op(b, device, "Write"),
      op(o, device, "Read"),
      op(o, device, "Write"),
    ];
    return {
      device,
      ...(readBytes === undefined ? {} : { readBytes }),
      ...(writeBytes === undefined ? {} : { writeBytes }),
      ...(readOps === undefined ? {} : { readOps }),
      ...(writeOps === undefined ? {} : { writeOps }),
    };
  });
  metrics.setIoCounters(files.cgroup, devices);
}

/** Publishes one watched cgroup (nothing if the metrics do not know it). */
export function publishOne(t: CgroupTracker, ctx: PublishContext): void {
  if (!ctx.metrics.hasCgroup(t.cgroup)) return;
  // One open per file and pass: the snapshot and the publisher share the reads (cpu.stat is wanted by both).
  const files = readEachOnce(cgroupFiles(ctx.layout, ctx.reader, t.cgroup, "once"));
  const snapshot = readSnapshot(ctx.layout, ctx.reader, t.cgroup, ctx.labelsOf(t.cgroup), "once", files);
  publishSettings(files, t, snapshot, ctx.metrics);
  publishCounters(t, ctx.counterFiles, ctx.metrics);
  publishCpu(files, snapshot, ctx.metrics);
  publishPressure(files, ctx.metrics);
  publishIoLimits(files, ctx.metrics);
  publishIoCounters(files, ctx.metrics);
}

/**
 * Re-publishes what an action can have changed: the settings (limits, quota,
 * weights, cpuset, swappiness) and the I/O throttles, from one snapshot. Not
 * the counters, CPU time, pressure or I/O totals: an action does not move
 * them, and the next pass mirrors them. Half the reads of `publishOne`, on
 * the event path after every applied action.
 */
export function publishAfterWrite(t: CgroupTracker, ctx: PublishContext): void {
  if (!ctx.metrics.hasCgroup(t.cgroup)) return;
  const files = readEachOnce(cgroupFiles(ctx.layout, ctx.reader, t.cgroup, "once"));
  const snapshot = readSnapshot(ctx.layout, ctx.reader, t.cgroup, ctx.labelsOf(t.cgroup), "once", files);
  publishSettings(files, t, snapshot, ctx.metrics);
  publishIoLimits(files, ctx.metrics);
}
