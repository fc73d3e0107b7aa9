/**
 * Every metric cgwatch exports, by name. Dashboards, alert rules and tests
 * refer to these strings, so they are defined once here and never spelled
 * inline elsewhere in src/. Conventions (Prometheus naming guide): base
 * units (bytes, seconds), `_total` only on counters, ratios are unit-less
 * and never named `_seconds`. Kernel counters are mirrored as counters
 * (cAdvisor style), PSI keeps cAdvisor/node_exporter's words in a `kind`
 * label (`some` = waiting, `full` = stalled).
 */

export const METRIC_PREFIX = "cgwatch_";

// Per-cgroup kernel counter mirrors (absolute values read from the kernel).
export const MEMORY_EVENTS_TOTAL = "cgwatch_memory_events_total";
export const CPU_USAGE_SECONDS_TOTAL = "cgwatch_cpu_usage_seconds_total";
export const CPU_PERIODS_TOTAL = "cgwatch_cpu_periods_total";
export const CPU_THROTTLED_PERIODS_TOTAL = "cgwatch_cpu_throttled_periods_total";
export const CPU_THROTTLED_SECONDS_TOTAL = "cgwatch_cpu_throttled_seconds_total";
export const PRESSURE_STALLED_SECONDS_TOTAL = "cgwatch_pressure_stalled_seconds_total";
export const PIDS_EVENTS_TOTAL = "cgwatch_pids_events_total";
export const IO_BYTES_TOTAL = "cgwatch_io_bytes_total";
export const IO_OPERATIONS_TOTAL = "cgwatch_io_operations_total";

// Per-cgroup state and settings (gauges). A setting the cgroup does not
// have (unlimited, absent on this kernel/version) has no series at all.
export const CGROUP_INFO = "cgwatch_cgroup_info";
export const UNDER_OOM = "cgwatch_under_oom";
export const MEMORY_USAGE_BYTES = "cgwatch_memory_usage_bytes";
export const MEMORY_KERNEL_BYTES = "cgwatch_memory_kernel_bytes";
// cAdvisor's container_memory_{working_set_bytes,rss,cache}, computed the kubelet's way (cgroup/memoryStat.ts).
export const MEMORY_WORKING_SET_BYTES = "cgwatch_memory_working_set_bytes";
export const MEMORY_RSS_BYTES = "cgwatch_memory_rss_bytes";
export const MEMORY_CACHE_BYTES = "cgwatch_memory_cache_bytes";
// OOM victims named by the kernel's report (/dev/kmsg), by process name.
export const OOM_VICTIMS_TOTAL = "cgwatch_oom_victims_total";
export const OOM_VICTIM_RSS_BYTES = "cgwatch_oom_victim_rss_bytes";
export const MEMORY_LIMIT_BYTES = "cgwatch_memory_limit_bytes";
export const MEMORY_MEMSW_LIMIT_BYTES = "cgwatch_memory_memsw_limit_bytes";
export const MEMORY_SWAP_LIMIT_BYTES = "cgwatch_memory_swap_limit_bytes";
export const MEMORY_RESERVATION_BYTES = "cgwatch_memory_reservation_bytes";
export const MEMORY_HIGH_BYTES = "cgwatch_memory_high_bytes";
export const MEMORY_SWAPPINESS = "cgwatch_memory_swappiness";
export const MEMORY_OOM_KILL_DISABLE = "cgwatch_memory_oom_kill_disable";
export const CPU_QUOTA_CORES = "cgwatch_cpu_quota_cores";
export const CPU_QUOTA_SECONDS = "cgwatch_cpu_quota_seconds";
export const CPU_PERIOD_SECONDS = "cgwatch_cpu_period_seconds";
export const CPU_BURST_SECONDS = "cgwatch_cpu_burst_seconds";
export const CPU_SHARES = "cgwatch_cpu_shares";
export const CPU_WEIGHT = "cgwatch_cpu_weight";
export const CPUSET_CPUS = "cgwatch_cpuset_cpus";
export const CPUSET_MEMS = "cgwatch_cpuset_mems";
export const IO_LIMIT_BYTES_PER_SECOND = "cgwatch_io_limit_bytes_per_second";
export const IO_LIMIT_OPERATIONS_PER_SECOND = "cgwatch_io_limit_operations_per_second";
export const PIDS_CURRENT = "cgwatch_pids_current";
export const PIDS_MAX = "cgwatch_pids_max";

// The watchdog itself.
export const EVENTS_TOTAL = "cgwatch_events_total";
export const POLICY_EVALUATIONS_TOTAL = "cgwatch_policy_evaluations_total";
export const POLICY_DURATION_SECONDS = "cgwatch_policy_duration_seconds";
export const POLICY_QUARANTINED = "cgwatch_policy_quarantined";
export const ACTIONS_TOTAL = "cgwatch_actions_total";
export const EVENT_TO_ACTION_SECONDS = "cgwatch_event_to_action_seconds";
export const OOM_STALL_OUTCOMES_TOTAL = "cgwatch_oom_stall_outcomes_total";
export const WATCHED_CGROUPS = "cgwatch_watched_cgroups";
export const NOTIFIER_FALLBACK = "cgwatch_notifier_fallback";
export const BUILD_INFO = "cgwatch_build_info";
export const WATCH_LOOP_HEARTBEAT_SECONDS = "cgwatch_watch_loop_heartbeat_timestamp_seconds";
export const METRICS_RENDER_SECONDS = "cgwatch_metrics_render_seconds";
export const READ_PROBLEMS_TOTAL = "cgwatch_read_problems_total";
export const WRITE_REFUSALS_TOTAL = "cgwatch_write_refusals_total";

/**
 * Kernel memory counters mirrored in `cgwatch_memory_events_total{event}`.
 * v2 `memory.events` keys, plus v1's two counters: `oom_kill` (from
 * memory.oom_control) and `failcnt` (memory.failcnt, the closest v1 analogue
 * of v2 `max`, but it counts every failed charge, so it keeps its own name).
 */
export type MemoryEventCounter = "low" | "high" | "max" | "oom" | "oom_kill" | "oom_group_kill" | "failcnt";
export const V1_MEMORY_EVENT_COUNTERS: readonly MemoryEventCounter[] = ["oom_kill", "failcnt"];

/**
 * Identity labels of `cgwatch_cgroup_info` after `memory` and `cpu` (src/identity/labels.ts):
 * cAdvisor's `name`, `image`, `pod`, `namespace`, `container` where they exist.
 */
export const IDENTITY_LABELS = ["engine", "container_id", "name", "image", "pod", "namespace", "container"] as const;
export type IdentityLabelName = (typeof IDENTITY_LABELS)[number];
export type IdentityLabelValues = Readonly<Record<IdentityLabelName, string>>;

export type PressureKind = "some" | "full";

/** How a policy evaluation ended; `ok` covers both "returned actions" and "returned none". */
export type PolicyEvaluationOutcome = "ok" | "error" | "timeout" | "memory_limit" | "invalid_output";
export const POLICY_EVALUATION_OUTCOMES: readonly PolicyEvaluationOutcome[] = [
  "ok",
  "error",
  "timeout",
  "memory_limit",
  "invalid_output",
];

/**
 * What became of one offer of a v1 stall under OOM (actions/stallOutcome.ts):
 * an action applied (or would have been, dry-run), every proposal rejected
 * by a guardrail or failed, or no policy proposed anything.
 */
export type OomStallOutcome = "applied" | "dry_run" | "rejected" | "failed" | "no_action";
export const OOM_STALL_OUTCOMES: readonly OomStallOutcome[] = ["applied", "dry_run", "rejected", "failed", "no_action"];

/** Kernel notifiers that can fall back to polling. */
export type Notifier = "eventfd" | "psi" | "inotify";
export const NOTIFIERS: readonly Notifier[] = ["eventfd", "psi", "inotify"];

/** Default listen address and port (see docs/metrics.md for why 9786). */
export const DEFAULT_METRICS_HOST = "127.0.0.1";
export const DEFAULT_METRICS_PORT = 9786;
