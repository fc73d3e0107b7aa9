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
import { Registry, collectDefaultMetrics } from "prom-client";
import type { ActionOutcome, ActionProposal } from "../actions/types.js";
import type { CgroupVersion } from "../cgroup/layout.js";
import type { MemoryFigures } from "../cgroup/memoryStat.js";
import type { IoLimitDevice } from "../cgroup/parse.js";
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import { EVENT_SOURCES_OF } from "../events/sources.js";
import { EVENT_KINDS, type PressureResource, type WatchdogEvent } from "../events/types.js";
import { findBuildInfo } from "./buildInfo.js";
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
  /** Who the cgroup is (engine, container, pod): labels of its cgwatch_cgroup_info series. */
  readonly identity?: N.IdentityLabelValues | null;
}

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

/** The kernel's report of one OOM victim, for cgwatch_oom_victims_total and cgwatch_oom_victim_rss_bytes. */
export interface VictimMetric {
  readonly comm: string;
  /** anon + file + shmem rss at the kill. */
  readonly rssBytes: number;
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
  /**
   * The cgroup is gone but its series stay, frozen at their last values, until
   * removeCgroup (the retention window: an alert still sees the OOM that killed
   * it). It no longer counts as watched; adding it again starts afresh.
   */
  retireCgroup(cgroup: string): void;
  /** Replaces the identity labels of the cgroup's info series (identity resolved late). */
  setIdentity(cgroup: string, identity: N.IdentityLabelValues | null): void;
  /** Counts an OOM victim of the cgroup (also while it is retired: the report can come after the rmdir). */
  recordOomVictim(cgroup: string, victim: VictimMetric): void;
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
  /** Replaces the cgroup's I/O throttles (docker --device-*-bps/iops): a limit no longer set loses its series. */
  setIoLimits(cgroup: string, devices: readonly IoLimitDevice[]): void;
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
  /** Counts what became of one offer of a stall under OOM (all outcomes start at 0). */
  recordOomStall(outcome: N.OomStallOutcome): void;
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
    oomStalls: store.define({ name: N.OOM_STALL_OUTCOMES_TOTAL, type: "counter", help: "Offers of a v1 stall under OOM by what became of them: applied, dry_run, rejected (a guardrail), failed (the write), no_action (no policy proposed one).", labelNames: ["outcome"] }),
    eventToAction: store.define({ name: N.EVENT_TO_ACTION_SECONDS, type: "histogram", help: "Time from reading the kernel notification to the action's write (or dry-run decision).", labelNames: ["outcome"], buckets: LATENCY_BUCKETS }),

    info: perCgroup(
      N.CGROUP_INFO,
      "gauge",
      "Always 1 for every watched (or retained) cgroup; labels give the cgroup version of its memory and cpu controllers and who the cgroup is: engine, container_id, name, image, pod, namespace, container (empty: unknown). Join on cgroup.",
      ["memory", "cpu", ...N.IDENTITY_LABELS],
    ),
    workingSet: perCgroup(N.MEMORY_WORKING_SET_BYTES, "gauge", "Working set as the kubelet computes it for eviction: usage minus inactive file cache (v1 total_inactive_file, v2 inactive_file)."),
    rss: perCgroup(N.MEMORY_RSS_BYTES, "gauge", "Anonymous memory (v1 memory.stat total_rss, v2 anon); cAdvisor's container_memory_rss."),
    cache: perCgroup(N.MEMORY_CACHE_BYTES, "gauge", "Page cache (v1 memory.stat total_cache, v2 file); cAdvisor's container_memory_cache."),
    oomVictims: perCgroup(N.OOM_VICTIMS_TOTAL, "counter", "Processes the kernel OOM-killed in the cgroup (or below it), by process name, from its OOM report in /dev/kmsg.", ["comm"]),
    oomVictimRss: perCgroup(N.OOM_VICTIM_RSS_BYTES, "gauge", "Resident memory (anon+file+shmem) of the last OOM victim with this process name, at the kill.", ["comm"]),
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
    cpusetMems: perCgroup(N.CPUSET_MEMS, "gauge", "Number of memory nodes the cgroup may allocate from (docker --cpuset-mems)."),
    ioLimitBytes: perCgroup(N.IO_LIMIT_BYTES_PER_SECOND, "gauge", "Block I/O bandwidth limit per device (docker --device-read-bps/--device-write-bps; v1 blkio.throttle.*_bps_device, v2 io.max rbps/wbps). No series when unlimited.", ["device", "op"]),
    ioLimitOps: perCgroup(N.IO_LIMIT_OPERATIONS_PER_SECOND, "gauge", "Block I/O operations limit per device (docker --device-read-iops/--device-write-iops; v1 blkio.throttle.*_iops_device, v2 io.max riops/wiops). No series when unlimited.", ["device", "op"]),
    pidsCurrent: perCgroup(N.PIDS_CURRENT, "gauge", "Number of tasks (pids.current)."),
    pidsMax: perCgroup(N.PIDS_MAX, "gauge", "Task limit (docker --pids-limit; pids.max). No series when max."),
    pidsEvents: perCgroup(N.PIDS_EVENTS_TOTAL, "counter", "Mirror of pids.events (max: forks refused at pids.max).", ["event"]),
    pressure: perCgroup(N.PRESSURE_STALLED_SECONDS_TOTAL, "counter", "PSI stall time (v2 <resource>.pressure total=): kind=some (some tasks waiting) or full (all non-idle tasks stalled).", ["resource", "kind"]),
    ioBytes: perCgroup(N.IO_BYTES_TOTAL, "counter", "Block I/O bytes per device (v1 blkio.throttle.io_service_bytes, v2 io.stat rbytes/wbytes/dbytes).", ["device", "op"]),
    ioOps: perCgroup(N.IO_OPERATIONS_TOTAL, "counter", "Block I/O operations per device (v1 blkio.throttle.io_serviced, v2 io.stat rios/wios/dios).", ["device", "op"]),
  };
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

  const found = opts.build?.version !== undefined && opts.build.revision !== undefined ? null : findBuildInfo();
  f.buildInfo.get([opts.build?.version ?? found?.version ?? "unknown", opts.build?.revision ?? found?.revision ?? "unknown", process.versions.node]).value = 1;
  const watchedSeries = f.watched.get([]);
  // Only the pairs that can happen (events/sources.ts), each from 0, so that increase() sees the first one.
  for (const kind of EVENT_KINDS) for (const source of EVENT_SOURCES_OF[kind]) f.events.get([kind, source]);
  for (const n of N.NOTIFIERS) f.notifierFallback.get([n]);
  for (const o of N.OOM_STALL_OUTCOMES) f.oomStalls.get([o]);
  let lastBeat: number | null = null;
  let renderInFlight: Promise<string> | null = null;

  const entry = (cgroup: string): CgroupEntry | undefined => cgroups.get(cgroup);
  /** Removed cgroups whose series are kept for the retention window. */
  const retired = new Map<string, CgroupEntry>();
  const infoLabels = new Map<string, { memory: string; cpu: string }>();
  const setInfo = (e: CgroupEntry, versions: { memory: string; cpu: string }, identity: N.IdentityLabelValues | null | undefined): void => {
    e.dropAllOf(f.info, () => false);
    e.get(f.info, [versions.memory, versions.cpu, ...N.IDENTITY_LABELS.map((l) => identity?.[l] ?? "")]).value = 1;
  };

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
    // cgwatch's own counters count from 0 in this process: a series born
    // with its first increment shows it (held series are for kernel mirrors,
    // whose first value may predate cgwatch).
    f.events.get([event.kind, event.source]).value += 1;
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
      // Re-created within its retention window: the old series go, the new cgroup starts afresh.
      retired.get(cgroup)?.clear();
      retired.delete(cgroup);
      const fresh = o.origin === "created";
      const e = new CgroupEntry(cgroup, fresh);
      if (o.memory === 1 || o.memory === 2) memoryVersions.set(cgroup, o.memory);
      cgroups.set(cgroup, e);
      watchedSeries.value = cgroups.size;
      const versions = { memory: o.memory === 1 || o.memory === 2 ? String(o.memory) : "", cpu: o.cpu === 1 || o.cpu === 2 ? String(o.cpu) : "" };
      infoLabels.set(cgroup, versions);
      setInfo(e, versions, o.identity);
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
      infoLabels.delete(cgroup);
      retired.get(cgroup)?.clear();
      retired.delete(cgroup);
      const e = cgroups.get(cgroup);
      if (e === undefined) return;
      e.clear();
      cgroups.delete(cgroup);
      watchedSeries.value = cgroups.size;
    },
    retireCgroup(cgroup) {
      const e = cgroups.get(cgroup);
      if (e === undefined) return;
      cgroups.delete(cgroup);
      retired.set(cgroup, e);
      watchedSeries.value = cgroups.size;
    },
    setIdentity(cgroup, identity) {
      const e = cgroups.get(cgroup) ?? retired.get(cgroup);
      const versions = infoLabels.get(cgroup);
      if (e !== undefined && versions !== undefined) setInfo(e, versions, identity);
    },
    recordOomVictim(cgroup, victim) {
      const e = cgroups.get(cgroup) ?? retired.get(cgroup);
      if (e === undefined) return;
      // Held at 0 until scraped (a new series' first sample is invisible to increase()).
      e.get(f.oomVictims, [victim.comm], true).value += 1;
      e.get(f.oomVictimRss, [victim.comm]).value = victim.rssBytes;
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
      if (extra.memoryFigures !== undefined) {
        gauge(e, f.workingSet, extra.memoryFigures?.workingSetBytes);
        gauge(e, f.rss, extra.memoryFigures?.rssBytes);
        gauge(e, f.cache, extra.memoryFigures?.cacheBytes);
      }
      if (extra.cpusetMems !== undefined) gauge(e, f.cpusetMems, extra.cpusetMems);
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
    setIoLimits(cgroup, devices) {
      const e = entry(cgroup);
      if (e === undefined) return;
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
      const key = (kind: string, s: Series): string => `${kind}\0${/device="([^"]*)"/.exec(s.labels)?.[1] ?? ""}\0${/op="([^"]*)"/.exec(s.labels)?.[1] ?? ""}`;
      e.dropAllOf(f.ioLimitBytes, (s) => want.has(key("b", s)));
      e.dropAllOf(f.ioLimitOps, (s) => want.has(key("o", s)));
      for (const [k, v] of want) {
        const [kind, device = "", op = ""] = k.split("\0");
        e.get(kind === "b" ? f.ioLimitBytes : f.ioLimitOps, [device, op]).value = v;
      }
    },
    recordEvent,
    addPolicy(policy) {
      for (const o of N.POLICY_EVALUATION_OUTCOMES) f.policyEvaluations.get([policy, o]);
      f.policyQuarantined.get([policy]);
    },
    recordPolicyEvaluation(policy, outcome, seconds) {
      f.policyEvaluations.get([policy, outcome]).value += 1;
      observe(f.policyDuration.get([policy]), seconds);
    },
    recordPolicyQuarantine(policy, quarantined) {
      f.policyQuarantined.get([policy]).value = quarantined ? 1 : 0;
    },
    recordAction(proposal, outcome, doneAt = monotonicNow()) {
      f.actions.get([proposal.policy, proposal.action.kind, outcome.kind]).value += 1;
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
    recordOomStall(outcome) {
      f.oomStalls.get([outcome], true).value += 1;
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

