/**
 * Publishes each watched cgroup's settings, usage and absolute kernel
 * counters to the metrics store on a timer. Event handling already mirrors
 * the counters it diffs; this pass fills in gauges (limits, usage, the
 * Docker-flag settings), PSI totals and block I/O, and repairs any counter a
 * missed notification left behind. At 10k cgroups a pass reads ~150k small
 * files, so it runs in slices that yield to the event loop between them:
 * an OOM notification is never queued behind a metrics pass.
 */
import path from "node:path";
import type { CgroupLayout, Controller } from "../cgroup/layout.js";
import { memoryFigures } from "../cgroup/memoryStat.js";
import { cgroupDir } from "../cgroup/paths.js";
import { parseBlkioLines, parseFlatKeyed, parseIoLimitsV1, parseIoMax, parseIoStat, parsePsi, timeCounter } from "../cgroup/parse.js";
import type { FileReader } from "../cgroup/read.js";
import type { PressureResource } from "../events/types.js";
import type { Metrics } from "../metrics/metrics.js";
import { readSnapshot } from "./snapshot.js";
import type { CgroupTracker } from "./tracker.js";
import { DEFAULT_SLICE_MS, everySliced } from "./slices.js";
import type { Watcher } from "./watcher.js";

export interface PublisherOptions {
  readonly watcher: Watcher;
  readonly layout: CgroupLayout;
  readonly reader: FileReader;
  readonly metrics: Metrics;
  readonly labelsOf: (cgroup: string) => Readonly<Record<string, string>>;
  readonly everyMs: number;
  /** Longest run of work between yields to the event loop (ms). */
  readonly sliceBudgetMs?: number;
  readonly persistent: boolean;
}

export interface Publisher {
  /** Start a pass now (e.g. right after the first scan). */
  kick(): void;
  /** Re-publishes one cgroup now: after cgwatch wrote to it, its gauges must not wait for the next pass. */
  refresh(cgroup: string): void;
  /**
   * Publishes one new cgroup soon, without waiting for the next pass: an
   * engine (runc) creates the directory first and writes the limits after,
   * so a read at discovery sees defaults. Read at `delaysMs` after the call.
   */
  publishSoon(cgroup: string, delaysMs: readonly number[]): void;
  stop(): void;
}

function countCpus(list: string): number | null {
  let n = 0;
  for (const part of list.trim().split(",")) {
    if (part === "") continue;
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || Number.isNaN(a)) return null;
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

export function publishCgroupState(options: PublisherOptions): Publisher {
  const { watcher, layout, reader, metrics } = options;

  const text = (cgroup: string, c: Controller, file: string): string | null => {
    const d = cgroupDir(layout, cgroup, c);
    if (d === null) return null;
    const r = reader.readOnce(path.join(d.dir, file));
    return r.kind === "ok" ? r.text : null;
  };

  const publishOne = (t: CgroupTracker): void => {
    const cgroup = t.cgroup;
    if (!metrics.hasCgroup(cgroup)) return;
    const snapshot = readSnapshot(layout, reader, cgroup, options.labelsOf(cgroup), "once");
    const cpuset = text(cgroup, "cpuset", t.memoryVersion === 2 ? "cpuset.cpus.effective" : "cpuset.cpus");
    const mems = text(cgroup, "cpuset", t.memoryVersion === 2 ? "cpuset.mems.effective" : "cpuset.mems");
    const kmem = t.memoryVersion === 1 ? text(cgroup, "memory", "memory.kmem.usage_in_bytes") : null;
    const stat = t.memoryVersion === null ? null : text(cgroup, "memory", "memory.stat");
    metrics.setCgroupState(cgroup, snapshot, {
      memoryFigures: stat === null || t.memoryVersion === null ? null : memoryFigures(t.memoryVersion, snapshot.memory?.usageBytes ?? null, stat),
      cpusetCpus: cpuset === null ? null : countCpus(cpuset),
      cpusetMems: mems === null ? null : countCpus(mems),
      ...(kmem === null || !/^\d+\s*$/.test(kmem) ? {} : { kernelMemoryBytes: Number(kmem) }),
    });
    const c = t.counters;
    if (c.memoryEvents !== null) metrics.setMemoryEventCounters(cgroup, c.memoryEvents);
    if (c.oomControl !== null) {
      metrics.setUnderOom(cgroup, c.oomControl.underOom);
      metrics.setMemoryEventCounters(cgroup, { ...(c.oomControl.oomKill === null ? {} : { oom_kill: c.oomControl.oomKill }), ...(c.failcnt === null ? {} : { failcnt: c.failcnt }) });
    }
    if (c.pidsMax !== null) metrics.setPidsEventCounters(cgroup, { max: c.pidsMax });
    const cpuStat = text(cgroup, "cpu", "cpu.stat");
    if (cpuStat !== null) {
      const parsed = parseFlatKeyed(cpuStat);
      // Counts above 2^53 are not exported (not in `values`); time counters may be approximate.
      const periods = parsed.values.get("nr_periods");
      const throttled = parsed.values.get("nr_throttled");
      const thrNs = timeCounter(parsed, "throttled_time");
      const thrUs = timeCounter(parsed, "throttled_usec");
      metrics.setCpuCounters(cgroup, {
        ...(snapshot.cpu?.usageSeconds === null || snapshot.cpu === null ? {} : { usageSeconds: snapshot.cpu.usageSeconds }),
        ...(periods === undefined ? {} : { periods }),
        ...(throttled === undefined ? {} : { throttledPeriods: throttled }),
        ...(thrUs !== undefined ? { throttledSeconds: thrUs / 1e6 } : thrNs !== undefined ? { throttledSeconds: thrNs / 1e9 } : {}),
      });
    }
    for (const resource of ["memory", "cpu", "io"] as const satisfies readonly PressureResource[]) {
      const p = text(cgroup, resource === "io" ? "io" : resource, `${resource}.pressure`);
      const psi = p === null ? null : parsePsi(p);
      if (psi?.kind === "ok") metrics.setPressureCounters(cgroup, resource, { some: psi.value.some.totalUs / 1e6, ...(psi.value.full === null ? {} : { full: psi.value.full.totalUs / 1e6 }) });
    }
    const ioMax = text(cgroup, "io", "io.max");
    if (ioMax !== null) metrics.setIoLimits(cgroup, parseIoMax(ioMax));
    else {
      const v1 = (file: string): string | null => text(cgroup, "blkio", `blkio.throttle.${file}_device`);
      const files = { readBps: v1("read_bps"), writeBps: v1("write_bps"), readIops: v1("read_iops"), writeIops: v1("write_iops") };
      if (Object.values(files).some((x) => x !== null)) metrics.setIoLimits(cgroup, parseIoLimitsV1(files));
    }
    const ioStat = text(cgroup, "io", "io.stat");
    if (ioStat !== null) metrics.setIoCounters(cgroup, parseIoStat(ioStat));
    else {
      const bytes = text(cgroup, "blkio", "blkio.throttle.io_service_bytes");
      const ops = text(cgroup, "blkio", "blkio.throttle.io_serviced");
      if (bytes !== null || ops !== null) {
        const b = parseBlkioLines(bytes ?? "");
        const o = parseBlkioLines(ops ?? "");
        const devices = new Set([...b.keys(), ...o.keys()]);
        metrics.setIoCounters(
          cgroup,
          [...devices].map((device) => ({
            device,
            ...(b.get(device)?.["Read"] === undefined ? {} : { readBytes: b.get(device)?.["Read"] ?? 0 }),
            ...(b.get(device)?.["Write"] === undefined ? {} : { writeBytes: b.get(device)?.["Write"] ?? 0 }),
            ...(o.get(device)?.["Read"] === undefined ? {} : { readOps: o.get(device)?.["Read"] ?? 0 }),
            ...(o.get(device)?.["Write"] === undefined ? {} : { writeOps: o.get(device)?.["Write"] ?? 0 }),
          })),
        );
      }
    }
  };

  const sweep = everySliced(
    Math.max(250, options.everyMs),
    () => [...watcher.trackers.values()],
    (t) => {
      try {
        publishOne(t);
      } catch {
        /* a cgroup vanishing mid-pass: its removal event cleans up */
      }
    },
    { persistent: options.persistent, budgetMs: options.sliceBudgetMs ?? DEFAULT_SLICE_MS },
  );

  const refresh = (cgroup: string): void => {
    const t = watcher.trackers.get(cgroup);
    if (t === undefined) return;
    try {
      publishOne(t);
    } catch {
      /* vanished meanwhile: the next pass or its removal event settles it */
    }
  };

  const timers = new Set<NodeJS.Timeout>();
  const publishSoon = (cgroup: string, delaysMs: readonly number[]): void => {
    for (const delay of delaysMs) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        refresh(cgroup);
      }, delay);
      if (!options.persistent) timer.unref();
      timers.add(timer);
    }
  };

  return {
    kick: sweep.kick,
    refresh,
    publishSoon,
    stop: () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      sweep.stop();
    },
  };
}
