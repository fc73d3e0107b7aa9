/**
 * Every family cgwatch exports, as data: its name (names.ts), type, help
 * and labels. Per-cgroup families put "cgroup" first.
 */
import * as N from "./names.js";
import type { Family, FamilyDef, Store } from "./store.js";

const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const POLICY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** A per-cgroup family. */
function cg(name: string, type: "counter" | "gauge", help: string, extra: readonly string[] = []): FamilyDef {
  return { name, help, type, labelNames: ["cgroup", ...extra] };
}

const FAMILY_DEFS = {
  buildInfo: {
    name: N.BUILD_INFO,
    type: "gauge",
    help: "Always 1; labels carry the cgwatch version, git revision and Node.js version.",
    labelNames: ["version", "revision", "nodejs"],
  },
  watched: { name: N.WATCHED_CGROUPS, type: "gauge", help: "Number of cgroups cgwatch is watching.", labelNames: [] },
  heartbeat: {
    name: N.WATCH_LOOP_HEARTBEAT_SECONDS,
    type: "gauge",
    help: "Unix time of the watch loop's last heartbeat.",
    labelNames: [],
  },
  renderSeconds: {
    name: N.METRICS_RENDER_SECONDS,
    type: "gauge",
    help: "Wall time the previous /metrics render took, including the turns it yielded to the event loop.",
    labelNames: [],
  },
  readProblems: {
    name: N.READ_PROBLEMS_TOTAL,
    type: "counter",
    help: "Read problems started, by control file name and reason (malformed content, a non-regular file, a replaced inode).",
    labelNames: ["file", "reason"],
  },
  writeRefusals: {
    name: N.WRITE_REFUSALS_TOTAL,
    type: "counter",
    help: "Writes refused because the tree was unsafe (symlink, non-regular file, path outside the root), by file name and reason.",
    labelNames: ["file", "reason"],
  },
  notifierFallback: {
    name: N.NOTIFIER_FALLBACK,
    type: "gauge",
    help: "1 when polling replaces this kernel notifier (not available on this host or kernel).",
    labelNames: ["notifier"],
  },
  events: {
    name: N.EVENTS_TOTAL,
    type: "counter",
    help: "Watchdog events emitted, by kind and by the notification source that led to them.",
    labelNames: ["kind", "source"],
  },
  policyEvaluations: {
    name: N.POLICY_EVALUATIONS_TOTAL,
    type: "counter",
    help: "Policy evaluations by outcome (ok, error, timeout, memory_limit, invalid_output).",
    labelNames: ["policy", "outcome"],
  },
  policyDuration: {
    name: N.POLICY_DURATION_SECONDS,
    type: "histogram",
    help: "Time a policy took to evaluate one event.",
    labelNames: ["policy"],
    buckets: POLICY_BUCKETS,
  },
  policyQuarantined: {
    name: N.POLICY_QUARANTINED,
    type: "gauge",
    help: "1 while the policy is quarantined after repeated failures.",
    labelNames: ["policy"],
  },
  actions: {
    name: N.ACTIONS_TOTAL,
    type: "counter",
    help: "Actions proposed by policies, by outcome (applied, dry_run, rejected, failed).",
    labelNames: ["policy", "action", "outcome"],
  },
  oomStalls: {
    name: N.OOM_STALL_OUTCOMES_TOTAL,
    type: "counter",
    help: "Offers of a v1 stall under OOM by what became of them: applied, dry_run, rejected (a guardrail), failed (the write), no_action (no policy proposed one).",
    labelNames: ["outcome"],
  },
  eventToAction: {
    name: N.EVENT_TO_ACTION_SECONDS,
    type: "histogram",
    help: "Time from reading the kernel notification to the action's write (or dry-run decision).",
    labelNames: ["outcome"],
    buckets: LATENCY_BUCKETS,
  },

  info: cg(
    N.CGROUP_INFO,
    "gauge",
    "Always 1 for every watched (or retained) cgroup; labels give the cgroup version of its memory and cpu controllers and who the cgroup is: engine, container_id, name, image, pod, namespace, container (empty: unknown). Join on cgroup.",
    ["memory", "cpu", ...N.IDENTITY_LABELS],
  ),
  workingSet: cg(
    N.MEMORY_WORKING_SET_BYTES,
    "gauge",
    "Working set as the kubelet computes it for eviction: usage minus inactive file cache (v1 total_inactive_file, v2 inactive_file).",
  ),
  rss: cg(
    N.MEMORY_RSS_BYTES,
    "gauge",
    "Anonymous memory (v1 memory.stat total_rss, v2 anon); cAdvisor's container_memory_rss.",
  ),
  cache: cg(
    N.MEMORY_CACHE_BYTES,
    "gauge",
    "Page cache (v1 memory.stat total_cache, v2 file); cAdvisor's container_memory_cache.",
  ),
  oomVictims: cg(
    N.OOM_VICTIMS_TOTAL,
    "counter",
    "Processes the kernel OOM-killed in the cgroup (or below it), by process name, from its OOM report in /dev/kmsg.",
    ["comm"],
  ),
  oomVictimRss: cg(
    N.OOM_VICTIM_RSS_BYTES,
    "gauge",
    "Resident memory (anon+file+shmem) of the last OOM victim with this process name, at the kill.",
    ["comm"],
  ),
  memoryEvents: cg(
    N.MEMORY_EVENTS_TOTAL,
    "counter",
    "Mirror of the kernel's memory event counters: v2 memory.events (low, high, max, oom, oom_kill, oom_group_kill); v1 memory.oom_control oom_kill and memory.failcnt (failcnt).",
    ["event"],
  ),
  underOom: cg(
    N.UNDER_OOM,
    "gauge",
    "1 while tasks of the cgroup are stalled under OOM (v1 memory.oom_control under_oom).",
  ),
  usage: cg(N.MEMORY_USAGE_BYTES, "gauge", "Memory usage (v1 memory.usage_in_bytes, v2 memory.current)."),
  kernel: cg(N.MEMORY_KERNEL_BYTES, "gauge", "Kernel memory usage (v1 memory.kmem.usage_in_bytes)."),
  limit: cg(
    N.MEMORY_LIMIT_BYTES,
    "gauge",
    "Memory limit (docker --memory; v1 memory.limit_in_bytes, v2 memory.max). No series when unlimited.",
  ),
  memsw: cg(
    N.MEMORY_MEMSW_LIMIT_BYTES,
    "gauge",
    "v1 memory+swap limit (docker --memory-swap; memory.memsw.limit_in_bytes). No series when unlimited.",
  ),
  swap: cg(N.MEMORY_SWAP_LIMIT_BYTES, "gauge", "v2 swap limit, swap only (memory.swap.max). No series when unlimited."),
  reservation: cg(
    N.MEMORY_RESERVATION_BYTES,
    "gauge",
    "Memory reservation (docker --memory-reservation; v1 memory.soft_limit_in_bytes, v2 memory.low). No series when none.",
  ),
  high: cg(N.MEMORY_HIGH_BYTES, "gauge", "v2 memory.high throttling threshold. No series when max."),
  swappiness: cg(N.MEMORY_SWAPPINESS, "gauge", "v1 memory.swappiness (docker --memory-swappiness)."),
  oomKillDisable: cg(
    N.MEMORY_OOM_KILL_DISABLE,
    "gauge",
    "1 when the OOM killer is disabled (docker --oom-kill-disable; v1 memory.oom_control).",
  ),
  cpuUsage: cg(N.CPU_USAGE_SECONDS_TOTAL, "counter", "CPU time consumed (v1 cpuacct.usage, v2 cpu.stat usage_usec)."),
  cpuPeriods: cg(N.CPU_PERIODS_TOTAL, "counter", "CFS enforcement periods elapsed (cpu.stat nr_periods)."),
  cpuThrottledPeriods: cg(
    N.CPU_THROTTLED_PERIODS_TOTAL,
    "counter",
    "CFS periods in which the cgroup was throttled (cpu.stat nr_throttled).",
  ),
  cpuThrottledSeconds: cg(
    N.CPU_THROTTLED_SECONDS_TOTAL,
    "counter",
    "Time the cgroup was throttled (v1 cpu.stat throttled_time, v2 throttled_usec).",
  ),
  quotaCores: cg(
    N.CPU_QUOTA_CORES,
    "gauge",
    "CPU quota in cores, quota/period (docker --cpus). No series without a quota.",
  ),
  quotaSeconds: cg(
    N.CPU_QUOTA_SECONDS,
    "gauge",
    "CFS quota per period (docker --cpu-quota; v1 cpu.cfs_quota_us, v2 cpu.max). No series without a quota.",
  ),
  periodSeconds: cg(N.CPU_PERIOD_SECONDS, "gauge", "CFS period (docker --cpu-period)."),
  burstSeconds: cg(N.CPU_BURST_SECONDS, "gauge", "CFS burst (v1 cpu.cfs_burst_us, v2 cpu.max.burst)."),
  shares: cg(
    N.CPU_SHARES,
    "gauge",
    "CPU shares (docker --cpu-shares; v1 cpu.shares, v2 converted back from cpu.weight).",
  ),
  weight: cg(N.CPU_WEIGHT, "gauge", "v2 cpu.weight."),
  cpusetCpus: cg(N.CPUSET_CPUS, "gauge", "Number of CPUs the cgroup may run on (docker --cpuset-cpus)."),
  cpusetMems: cg(N.CPUSET_MEMS, "gauge", "Number of memory nodes the cgroup may allocate from (docker --cpuset-mems)."),
  ioLimitBytes: cg(
    N.IO_LIMIT_BYTES_PER_SECOND,
    "gauge",
    "Block I/O bandwidth limit per device (docker --device-read-bps/--device-write-bps; v1 blkio.throttle.*_bps_device, v2 io.max rbps/wbps). No series when unlimited.",
    ["device", "op"],
  ),
  ioLimitOps: cg(
    N.IO_LIMIT_OPERATIONS_PER_SECOND,
    "gauge",
    "Block I/O operations limit per device (docker --device-read-iops/--device-write-iops; v1 blkio.throttle.*_iops_device, v2 io.max riops/wiops). No series when unlimited.",
    ["device", "op"],
  ),
  pidsCurrent: cg(N.PIDS_CURRENT, "gauge", "Number of tasks (pids.current)."),
  pidsMax: cg(N.PIDS_MAX, "gauge", "Task limit (docker --pids-limit; pids.max). No series when max."),
  pidsEvents: cg(N.PIDS_EVENTS_TOTAL, "counter", "Mirror of pids.events (max: forks refused at pids.max).", ["event"]),
  pressure: cg(
    N.PRESSURE_STALLED_SECONDS_TOTAL,
    "counter",
    "PSI stall time (v2 <resource>.pressure total=): kind=some (some tasks waiting) or full (all non-idle tasks stalled).",
    ["resource", "kind"],
  ),
  ioBytes: cg(
    N.IO_BYTES_TOTAL,
    "counter",
    "Block I/O bytes per device (v1 blkio.throttle.io_service_bytes, v2 io.stat rbytes/wbytes/dbytes).",
    ["device", "op"],
  ),
  ioOps: cg(
    N.IO_OPERATIONS_TOTAL,
    "counter",
    "Block I/O operations per device (v1 blkio.throttle.io_serviced, v2 io.stat rios/wios/dios).",
    ["device", "op"],
  ),
} as const satisfies Record<string, FamilyDef>;

export type Families = { readonly [K in keyof typeof FAMILY_DEFS]: Family };

export function defineFamilies(store: Store): Families {
  return Object.fromEntries(
    Object.entries(FAMILY_DEFS).map(([key, def]) => [key, store.define(def)]),
  ) as unknown as Families;
}
