/**
 * cgwatch's metrics: every family the observability issue lists, and the
 * API the daemon calls. High-cardinality per-cgroup series live in the
 * chunk-rendering Store (store.ts, render.ts); prom-client's own dedicated
 * Registry carries only the process/Node.js default metrics, which are few
 * and cheap, and is appended at the end of each scrape.
 *
 * Kernel counters are MIRRORED, not counted: the daemon passes the absolute
 * values it read, so a missed or merged notification loses nothing and a
 * repeated one counts nothing twice.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Registry, collectDefaultMetrics } from "prom-client";
import type { ActionOutcome, ActionProposal } from "../actions/types.js";
import type { CgroupVersion } from "../cgroup/layout.js";
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import { EVENT_KINDS, type EventSource, type PressureResource, type WatchdogEvent } from "../events/types.js";
import { EXPOSITION_CONTENT_TYPE } from "./exposition.js";
import * as N from "./names.js";
import { renderChunks, type RenderOptions } from "./render.js";
import { CgroupEntry, Store, observe, type Family, type Series } from "./store.js";

export interface AddCgroupOptions {
  /**
   * "created": the cgroup appeared while cgwatch was watching, so its kernel
   * counters started at 0 then; its counters are exposed starting at 0 (held
   * at 0 until one scrape has seen them), so increase() sees its first OOM.
   * "startup": found at start; counters appear with their current values
   * (no false alert for OOM kills that predate cgwatch).
   */
  readonly origin: "startup" | "created";
  /** Which memory counters to zero-initialise: v1 has oom_kill and failcnt, v2 the memory.events keys. */
  readonly memory?: CgroupVersion | null;
  /** Zero-initialise the cpu.stat mirrors (cgroups that have a cpu controller). */
  readonly cpu?: CgroupVersion | null;
  readonly pids?: boolean;
}

/** Gauges the snapshot does not carry. */
export interface CgroupStateExtra {
  /** v1 memory.kmem.usage_in_bytes. */
  readonly kernelMemoryBytes?: number | null;
  /** Number of CPUs in cpuset.cpus (effective). */
  readonly cpusetCpus?: number | null;
}

/** Absolute cpu counters (cpuacct.usage / cpu.stat usage_usec; cpu.stat nr_periods, nr_throttled, throttled time). */
export interface CpuCounters {
  readonly usageSeconds?: number;
  readonly periods?: number;
  readonly throttledPeriods?: number;
  readonly throttledSeconds?: number;
}

/** PSI `total=` of a pressure file, in seconds. */
export interface PressureCounters {
  readonly some?: number;
  readonly full?: number;
}

/** One block device's absolute counters (v1 blkio.throttle.io_service_bytes/io_serviced, v2 io.stat). */
export interface IoDeviceCounters {
  /** "major:minor". */
  readonly device: string;
  readonly readBytes?: number;
  readonly writeBytes?: number;
  readonly readOps?: number;
  readonly writeOps?: number;
  readonly discardBytes?: number;
  readonly discardOps?: number;
}

export interface MetricsOptions {
  /** Version/revision for cgwatch_build_info; read from package.json when absent. */
  readonly build?: { readonly version: string; readonly revision?: string };
  /** prom-client's process_* and nodejs_* metrics (default true). */
  readonly processMetrics?: boolean;
  readonly render?: RenderOptions;
  /** Monotonic ms clock (performance.now) and wall clock (Date.now), injectable for tests. */
  readonly monotonicNow?: () => number;
  readonly wallNow?: () => number;
}

export interface Metrics {
  readonly contentType: string;
  /** The dedicated prom-client registry (process metrics only). */
  readonly registry: Registry;
  /** The series store; for tests and the benchmark, not for the daemon. */
  readonly store: Store;
  addCgroup(cgroup: string, opts: AddCgroupOptions): void;
  /** Every series of the cgroup disappears. Do the final counter read first. */
  removeCgroup(cgroup: string): void;
  hasCgroup(cgroup: string): boolean;
  /** Settings and usage gauges from a snapshot (and the oom_kill / cpu usage counters it carries). */
  setCgroupState(cgroup: string, snapshot: CgroupSnapshot, extra?: CgroupStateExtra): void;
  setMemoryEventCounters(cgroup: string, counters: Readonly<Partial<Record<N.MemoryEventCounter, number>>>): void;
  setUnderOom(cgroup: string, underOom: boolean): void;
  setCpuCounters(cgroup: string, counters: CpuCounters): void;
  setPressureCounters(cgroup: string, resource: PressureResource, counters: PressureCounters): void;
  setPidsEventCounters(cgroup: string, counters: { readonly max?: number }): void;
  /** Replaces the cgroup's device set: devices absent from `devices` lose their series. */
  setIoCounters(cgroup: string, devices: readonly IoDeviceCounters[]): void;
  /** Counts the event by kind and source, and mirrors the counters it carries (never lowering them). */
  recordEvent(event: WatchdogEvent): void;
  /** Registers a policy: its evaluation counters and quarantine gauge start at 0. */
  addPolicy(policy: string): void;
  recordPolicyEvaluation(policy: string, outcome: N.PolicyEvaluationOutcome, seconds: number): void;
  recordPolicyQuarantine(policy: string, quarantined: boolean): void;
  /**
   * Counts the action's outcome; for applied, dry_run and failed ones also
   * observes the event→action latency from `proposal.cause.at` to
   * `doneAt` (monotonic ms, performance.now() by default).
   */
  recordAction(proposal: ActionProposal, outcome: ActionOutcome, doneAt?: number): void;
  setNotifierFallback(notifier: N.Notifier, on: boolean): void;
  /** One more file problem started (logging/problems.ts): a read problem or a refused write, by file base name and reason. */
  recordFileProblem(op: "read" | "write", file: string, reason: string): void;
  /** The watch loop calls this on every turn; /healthz and a gauge report its age. */
  heartbeat(): void;
  /** Monotonic ms of the last heartbeat, or null before the first. */
  lastHeartbeat(): number | null;
  watchedCgroups(): number;
  renderChunks(): AsyncGenerator<string>;
  render(): Promise<string>;
}

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const POLICY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const EVENT_SOURCES: readonly EventSource[] = ["inotify", "eventfd", "psi", "poll"];
const PRESSURE_RESOURCES: readonly PressureResource[] = ["memory", "cpu", "io"];

function defineFamilies(store: Store) {
  const perCgroup = (name: string, type: "counter" | "gauge", help: string, extra: readonly string[] = []): Family =>
    store.define({ name, help, type, labelNames: ["cgroup", ...extra] });
  return {
    buildInfo: store.define({ name: N.BUILD_INFO, type: "gauge", help: "Always 1; labels carry the cgwatch version, git revision and Node.js version.", labelNames: ["version", "revision", "nodejs"] }),
    watched: store.define({ name: N.WATCHED_CGROUPS, type: "gauge", help: "Number of cgroups cgwatch is watching.", labelNames: [] }),
    heartbeat: store.define({ name: N.WATCH_LOOP_HEARTBEAT_SECONDS, type: "gauge", help: "Unix time of the watch loop's last heartbeat.", labelNames: [] }),
    renderSeconds: store.define({ name: N.METRICS_RENDER_SECONDS, type: "gauge", help: "Wall time the previous /metrics render took, including the turns it yielded to the event loop.", labelNames: [] }),
    readProblems: store.define({ name: N.READ_PROBLEMS_TOTAL, type: "counter", help: "Read problems started, by control file name and reason (malformed content, a non-regular file, a replaced inode).", labelNames: ["file", "reason"] }),
    writeRefusals: store.define({ name: N.WRITE_REFUSALS_TOTAL, type: "counter", help: "Writes refused because the tree was unsafe (symlink, non-regular file, path outside the root), by file name and reason.", labelNames: ["file", "reason"] }),
    notifierFallback: store.define({ name: N.NOTIFIER_FALLBACK, type: "gauge", help: "1 when polling replaces this kernel notifier (not available on this host or kernel).", labelNames: ["notifier"] }),
    events: store.define({ name: N.EVENTS_TOTAL, type: "counter", help: "Watchdog events emitted, by kind and by the notification source that led to them.", labelNames: ["kind", "source"] }),
    policyEvaluations: store.define({ name: N.POLICY_EVALUATIONS_TOTAL, type: "counter", help: "Policy evaluations by outcome (ok, error, timeout, memory_limit, invalid_output).", labelNames: ["policy", "outcome"] }),
    policyDuration: store.define({ name: N.POLICY_DURATION_SECONDS, type: "histogram", help: "Time a policy took to evaluate one event.", labelNames: ["policy"], buckets: POLICY_BUCKETS }),
    policyQuarantined: store.define({ name: N.POLICY_QUARANTINED, type: "gauge", help: "1 while the policy is quarantined after repeated failures.", labelNames: ["policy"] }),
    actions: store.define({ name: N.ACTIONS_TOTAL, type: "counter", help: "Actions proposed by policies, by outcome (applied, dry_run, rejected, failed).", labelNames: ["policy", "action", "outcome"] }),
    eventToAction: store.define({ name: N.EVENT_TO_ACTION_SECONDS, type: "histogram", help: "Time from reading the kernel notification to the action's write (or dry-run decision).", labelNames: ["outcome"], buckets: LATENCY_BUCKETS }),

    info: perCgroup(N.CGROUP_INFO, "gauge", "Always 1 for every watched cgroup; labels give the cgroup version of its memory and cpu controllers (empty: none).", ["memory", "cpu"]),
    memoryEvents: perCgroup(N.MEMORY_EVENTS_TOTAL, "counter", "Mirror of the kernel's memory event counters: v2 memory.events (low, high, max, oom, oom_kill, oom_group_kill); v1 memory.oom_control oom_kill and memory.failcnt (failcnt).", ["event"]),
    underOom: perCgroup(N.UNDER_OOM, "gauge", "1 while tasks of the cgroup are stalled under OOM (v1 memory.oom_control under_oom)."),
    usage: perCgroup(N.MEMORY_USAGE_BYTES, "gauge", "Memory usage (v1 memory.usage_in_bytes, v2 memory.current)."),
    kernel: perCgroup(N.MEMORY_KERNEL_BYTES, "gauge", "Kernel memory usage (v1 memory.kmem.usage_in_bytes)."),
    limit: perCgroup(N.MEMORY_LIMIT_BYTES, "gauge", "Memory limit (docker --memory; v1 memory.limit_in_bytes, v2 memory.max). No series when unlimited."),
    memsw: perCgroup(N.MEMORY_MEMSW_LIMIT_BYTES, "gauge", "v1 memory+swap limit (docker --memory-swap; memory.memsw.limit_in_bytes). No series when unlimited."),
    swap: perCgroup(N.MEMORY_SWAP_LIMIT_BYTES, "gauge", "v2 swap limit, swap only (memory.swap.max). No series when unlimited."),
    reservation: perCgroup(N.MEMORY_RESERVATION_BYTES, "gauge", "Memory reservation (docker --memory-reservation; v1 memory.soft_limit_in_bytes, v2 memory.low). No series when none."),
    high: perCgroup(N.MEMORY_HIGH_BYTES, "gauge", "v2 memory.high throttling threshold. No series when max."),
    swappiness: perCgroup(N.MEMORY_SWAPPINESS, "gauge", "v1 memory.swappiness (docker --memory-swappiness)."),
    oomKillDisable: perCgroup(N.MEMORY_OOM_KILL_DISABLE, "gauge", "1 when the OOM killer is disabled (docker --oom-kill-disable; v1 memory.oom_control)."),
    cpuUsage: perCgroup(N.CPU_USAGE_SECONDS_TOTAL, "counter", "CPU time consumed (v1 cpuacct.usage, v2 cpu.stat usage_usec)."),
    cpuPeriods: perCgroup(N.CPU_PERIODS_TOTAL, "counter", "CFS enforcement periods elapsed (cpu.stat nr_periods)."),
    cpuThrottledPeriods: perCgroup(N.CPU_THROTTLED_PERIODS_TOTAL, "counter", "CFS periods in which the cgroup was throttled (cpu.stat nr_throttled)."),
    cpuThrottledSeconds: perCgroup(N.CPU_THROTTLED_SECONDS_TOTAL, "counter", "Time the cgroup was throttled (v1 cpu.stat throttled_time, v2 throttled_usec)."),
    quotaCores: perCgroup(N.CPU_QUOTA_CORES, "gauge", "CPU quota in cores, quota/period (docker --cpus). No series without a quota."),
    quotaSeconds: perCgroup(N.CPU_QUOTA_SECONDS, "gauge", "CFS quota per period (docker --cpu-quota; v1 cpu.cfs_quota_us, v2 cpu.max). No series without a quota."),
    periodSeconds: perCgroup(N.CPU_PERIOD_SECONDS, "gauge", "CFS period (docker --cpu-period)."),
    burstSeconds: perCgroup(N.CPU_BURST_SECONDS, "gauge", "CFS burst (v1 cpu.cfs_burst_us, v2 cpu.max.burst)."),
    shares: perCgroup(N.CPU_SHARES, "gauge", "CPU shares (docker --cpu-shares; v1 cpu.shares, v2 converted back from cpu.weight)."),
    weight: perCgroup(N.CPU_WEIGHT, "gauge", "v2 cpu.weight."),
    cpusetCpus: perCgroup(N.CPUSET_CPUS, "gauge", "Number of CPUs the cgroup may run on (docker --cpuset-cpus)."),
    pidsCurrent: perCgroup(N.PIDS_CURRENT, "gauge", "Number of tasks (pids.current)."),
    pidsMax: perCgroup(N.PIDS_MAX, "gauge", "Task limit (docker --pids-limit; pids.max). No series when max."),
    pidsEvents: perCgroup(N.PIDS_EVENTS_TOTAL, "counter", "Mirror of pids.events (max: forks refused at pids.max).", ["event"]),
    pressure: perCgroup(N.PRESSURE_STALLED_SECONDS_TOTAL, "counter", "PSI stall time (v2 <resource>.pressure total=): kind=some (some tasks waiting) or full (all non-idle tasks stalled).", ["resource", "kind"]),
    ioBytes: perCgroup(N.IO_BYTES_TOTAL, "counter", "Block I/O bytes per device (v1 blkio.throttle.io_service_bytes, v2 io.stat rbytes/wbytes/dbytes).", ["device", "op"]),
    ioOps: perCgroup(N.IO_OPERATIONS_TOTAL, "counter", "Block I/O operations per device (v1 blkio.throttle.io_serviced, v2 io.stat rios/wios/dios).", ["device", "op"]),
  };
}

function findBuildVersion(): string {
  // Walk up from this file: the same code runs from src/ (vitest) and dist/src/ (node).
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "cgwatch" && typeof pkg.version === "string") return pkg.version;
    } catch {
      /* not here: keep walking up */
    }
    dir = path.dirname(dir);
  }
  return "unknown";
}

const MEMORY_EVENT_OF_KIND = {
  memory_low: "low",
  memory_high: "high",
  memory_max: "max",
  oom: "oom",
  oom_kill: "oom_kill",
  oom_group_kill: "oom_group_kill",
} as const satisfies Record<string, N.MemoryEventCounter>;

/** Sets a counter mirror to an absolute kernel value. */
function mirror(s: Series, value: number | undefined | null): void {
  if (value === undefined || value === null || !Number.isFinite(value)) return;
  s.value = value;
}

/** Mirrors from an event's `after`: events can arrive after a fresher poll read, so never lower. */
function raise(s: Series, value: number): void {
  if (Number.isFinite(value) && value > s.value) s.value = value;
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const store = new Store();
  const f = defineFamilies(store);
  const monotonicNow = opts.monotonicNow ?? (() => performance.now());
  const wallNow = opts.wallNow ?? (() => Date.now());
  const cgroups = new Map<string, CgroupEntry>();
  const registry = new Registry();
  if (opts.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // prom-client names three gauges `*_total`, which `promtool check
    // metrics` rejects; their per-type siblings (nodejs_active_handles{type})
    // carry the same information, summed.
    for (const m of registry.getMetricsAsArray()) {
      if (m.name.endsWith("_total") && (m as { type?: unknown }).type !== "counter") registry.removeSingleMetric(m.name);
    }
  }

  f.buildInfo.get([opts.build?.version ?? findBuildVersion(), opts.build?.revision ?? "", process.versions.node]).value = 1;
  const watchedSeries = f.watched.get([]);
  for (const kind of EVENT_KINDS) for (const source of EVENT_SOURCES) f.events.get([kind, source]);
  for (const n of N.NOTIFIERS) f.notifierFallback.get([n]);
  let lastBeat: number | null = null;
  let renderInFlight: Promise<string> | null = null;

  const entry = (cgroup: string): CgroupEntry | undefined => cgroups.get(cgroup);

  /** Sets a gauge, or drops its series when the cgroup does not have the setting. */
  const gauge = (e: CgroupEntry, family: Family, value: number | null | undefined): void => {
    if (value === null || value === undefined || !Number.isFinite(value)) e.drop(family);
    else e.get(family).value = value;
  };

  const setMemoryEventCounters: Metrics["setMemoryEventCounters"] = (cgroup, counters) => {
    const e = entry(cgroup);
    if (e === undefined) return;
    for (const [event, value] of Object.entries(counters)) mirror(e.get(f.memoryEvents, [event]), value);
  };

  /** Memory controller version per cgroup: v1 and v2 name the same happenings differently. */
  const memoryVersions = new Map<string, 1 | 2>();

  const recordEvent = (event: WatchdogEvent): void => {
    f.events.get([event.kind, event.source], true).value += 1;
    const e = entry(event.cgroup);
    if (e === undefined) return;
    switch (event.kind) {
      case "memory_max":
        // On v1 the "limit hit" counter the event carries is memory.failcnt,
        // exported under its own name (it counts every failed charge).
        raise(e.get(f.memoryEvents, [memoryVersions.get(event.cgroup) === 1 ? "failcnt" : "max"]), event.counter.after);
        return;
      case "memory_low":
      case "memory_high":
      case "oom":
      case "oom_kill":
      case "oom_group_kill":
        raise(e.get(f.memoryEvents, [MEMORY_EVENT_OF_KIND[event.kind]]), event.counter.after);
        return;
      case "under_oom":
        e.get(f.underOom).value = event.underOom ? 1 : 0;
        e.get(f.oomKillDisable).value = event.oomKillDisable ? 1 : 0;
        return;
      case "reservation_breach":
        e.get(f.usage).value = event.usageBytes;
        return;
      case "cpu_throttled":
        raise(e.get(f.cpuPeriods), event.periods.after);
        raise(e.get(f.cpuThrottledPeriods), event.throttledPeriods.after);
        raise(e.get(f.cpuThrottledSeconds), event.throttledSeconds.after);
        return;
      case "pids_max":
        raise(e.get(f.pidsEvents, ["max"]), event.counter.after);
        return;
      case "memory_pressure":
      case "cpu_pressure":
      case "io_pressure":
      case "cgroup_added":
      case "cgroup_removed":
      case "sample":
        return;
    }
  };

  const self: Metrics = {
    contentType: EXPOSITION_CONTENT_TYPE,
    registry,
    store,
    addCgroup(cgroup, o) {
      if (cgroups.has(cgroup)) return;
      const fresh = o.origin === "created";
      const e = new CgroupEntry(cgroup, fresh);
      if (o.memory === 1 || o.memory === 2) memoryVersions.set(cgroup, o.memory);
      cgroups.set(cgroup, e);
      watchedSeries.value = cgroups.size;
      e.get(f.info, [o.memory === 1 || o.memory === 2 ? String(o.memory) : "", o.cpu === 1 || o.cpu === 2 ? String(o.cpu) : ""]).value = 1;
      // Pre-existing cgroups get their counters from the first read (their
      // kernel values may be far from 0); new ones start at 0 right away.
      if (!fresh) return;
      const memoryEvents = o.memory === 1 ? N.V1_MEMORY_EVENT_COUNTERS : o.memory === 2 ? N.V2_MEMORY_EVENT_COUNTERS : [];
      for (const ev of memoryEvents) e.get(f.memoryEvents, [ev]);
      if (o.memory === 1) e.get(f.underOom);
      if (o.cpu === 1 || o.cpu === 2) {
        for (const fam of [f.cpuUsage, f.cpuPeriods, f.cpuThrottledPeriods, f.cpuThrottledSeconds]) e.get(fam);
      }
      if (o.pids === true) e.get(f.pidsEvents, ["max"]);
    },
    removeCgroup(cgroup) {
      memoryVersions.delete(cgroup);
      const e = cgroups.get(cgroup);
      if (e === undefined) return;
      e.clear();
      cgroups.delete(cgroup);
      watchedSeries.value = cgroups.size;
    },
    hasCgroup: (cgroup) => cgroups.has(cgroup),
    setCgroupState(cgroup, snap, extra = {}) {
      const e = entry(cgroup);
      if (e === undefined) return;
      const m = snap.memory;
      if (m !== null) {
        gauge(e, f.usage, m.usageBytes);
        gauge(e, f.limit, m.limitBytes);
        // The snapshot carries the swap part on both versions; v1's file (and
        // this family) is memory+swap, so add the limit back.
        if (m.version === 1) gauge(e, f.memsw, m.swapLimitBytes === null || m.limitBytes === null ? null : m.limitBytes + m.swapLimitBytes);
        else gauge(e, f.swap, m.swapLimitBytes);
        gauge(e, f.reservation, m.reservationBytes);
        gauge(e, f.high, m.highBytes);
        gauge(e, f.swappiness, m.swappiness);
        gauge(e, f.oomKillDisable, m.oomKillDisable === null ? null : m.oomKillDisable ? 1 : 0);
        if (m.version === 1) gauge(e, f.underOom, m.underOom === null ? null : m.underOom ? 1 : 0);
        if (m.oomKills !== null) mirror(e.get(f.memoryEvents, ["oom_kill"]), m.oomKills);
      }
      const c = snap.cpu;
      if (c !== null) {
        const hasQuota = c.quotaUs !== null && c.periodUs !== null && c.periodUs > 0;
        gauge(e, f.quotaCores, hasQuota ? (c.quotaUs ?? 0) / (c.periodUs ?? 1) : null);
        gauge(e, f.quotaSeconds, c.quotaUs === null ? null : c.quotaUs / 1e6);
        gauge(e, f.periodSeconds, c.periodUs === null ? null : c.periodUs / 1e6);
        gauge(e, f.burstSeconds, c.burstUs === null ? null : c.burstUs / 1e6);
        gauge(e, f.shares, c.shares);
        gauge(e, f.weight, c.weight);
        if (c.usageSeconds !== null) mirror(e.get(f.cpuUsage), c.usageSeconds);
      }
      const p = snap.pids;
      if (p !== null) {
        gauge(e, f.pidsCurrent, p.current);
        gauge(e, f.pidsMax, p.max);
      }
      if (extra.kernelMemoryBytes !== undefined) gauge(e, f.kernel, extra.kernelMemoryBytes);
      if (extra.cpusetCpus !== undefined) gauge(e, f.cpusetCpus, extra.cpusetCpus);
    },
    setMemoryEventCounters,
    setUnderOom(cgroup, underOom) {
      const e = entry(cgroup);
      if (e !== undefined) e.get(f.underOom).value = underOom ? 1 : 0;
    },
    setCpuCounters(cgroup, c) {
      const e = entry(cgroup);
      if (e === undefined) return;
      if (c.usageSeconds !== undefined) mirror(e.get(f.cpuUsage), c.usageSeconds);
      if (c.periods !== undefined) mirror(e.get(f.cpuPeriods), c.periods);
      if (c.throttledPeriods !== undefined) mirror(e.get(f.cpuThrottledPeriods), c.throttledPeriods);
      if (c.throttledSeconds !== undefined) mirror(e.get(f.cpuThrottledSeconds), c.throttledSeconds);
    },
    setPressureCounters(cgroup, resource, c) {
      const e = entry(cgroup);
      if (e === undefined || !PRESSURE_RESOURCES.includes(resource)) return;
      if (c.some !== undefined) mirror(e.get(f.pressure, [resource, "some"]), c.some);
      if (c.full !== undefined) mirror(e.get(f.pressure, [resource, "full"]), c.full);
    },
    setPidsEventCounters(cgroup, c) {
      const e = entry(cgroup);
      if (e !== undefined && c.max !== undefined) mirror(e.get(f.pidsEvents, ["max"]), c.max);
    },
    setIoCounters(cgroup, devices) {
      const e = entry(cgroup);
      if (e === undefined) return;
      const present = new Set(devices.map((d) => d.device));
      const keep = (s: Series): boolean => present.has(/device="([^"]*)"/.exec(s.labels)?.[1] ?? "");
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
    },
    recordEvent,
    addPolicy(policy) {
      for (const o of N.POLICY_EVALUATION_OUTCOMES) f.policyEvaluations.get([policy, o]);
      f.policyQuarantined.get([policy]);
    },
    recordPolicyEvaluation(policy, outcome, seconds) {
      f.policyEvaluations.get([policy, outcome], true).value += 1;
      observe(f.policyDuration.get([policy]), seconds);
    },
    recordPolicyQuarantine(policy, quarantined) {
      f.policyQuarantined.get([policy]).value = quarantined ? 1 : 0;
    },
    recordAction(proposal, outcome, doneAt = monotonicNow()) {
      f.actions.get([proposal.policy, proposal.action.kind, outcome.kind], true).value += 1;
      switch (outcome.kind) {
        case "applied":
        case "dry_run":
        case "failed":
          observe(f.eventToAction.get([outcome.kind]), Math.max(0, (doneAt - proposal.cause.at) / 1000));
          return;
        case "rejected":
          return;
      }
    },
    recordFileProblem(op, file, reason) {
      (op === "read" ? f.readProblems : f.writeRefusals).get([file, reason], true).value += 1;
    },
    setNotifierFallback(notifier, on) {
      f.notifierFallback.get([notifier]).value = on ? 1 : 0;
    },
    heartbeat() {
      lastBeat = monotonicNow();
      f.heartbeat.get([]).value = wallNow() / 1000;
    },
    lastHeartbeat: () => lastBeat,
    watchedCgroups: () => cgroups.size,
    async *renderChunks() {
      const t0 = monotonicNow();
      yield* renderChunks(store, opts.render);
      // prom-client's part is a few dozen process/nodejs series: cheap.
      const processText = await registry.metrics();
      if (processText.trim() !== "") yield processText;
      f.renderSeconds.get([]).value = (monotonicNow() - t0) / 1000;
    },
    render() {
      // Concurrent scrapes (two Prometheus servers) share one render.
      if (renderInFlight === null) {
        const p = (async () => {
          const parts: string[] = [];
          for await (const c of self.renderChunks()) parts.push(c);
          return parts.join("");
        })();
        renderInFlight = p;
        const clear = (): void => {
          if (renderInFlight === p) renderInFlight = null;
        };
        p.then(clear, clear);
      }
      return renderInFlight;
    },
  };
  return self;
}

