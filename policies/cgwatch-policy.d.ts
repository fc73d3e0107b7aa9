/**
 * Types for writing cgwatch policies. A policy is an ES module:
 *
 *   // @ts-check
 *   /** @type {import("cgwatch/policies/cgwatch-policy").PolicyMeta} *\/
 *   export const meta = { name: "my-policy", on: ["under_oom"], match: ["docker/*"], cooldown: "30s", params: { step: 0.25 } };
 *   /** @type {import("cgwatch/policies/cgwatch-policy").OnEvent} *\/
 *   export function onEvent(event, cgroup, ctx) { return [{ kind: "set_memory_limit", bytes: 1 << 30 }]; }
 *
 * The sandbox (QuickJS) has no filesystem, network, timers, `require`,
 * `process` or host objects. Everything a policy gets is below; everything
 * it returns is validated. These declarations mirror cgwatch's own
 * `src/events/types.ts`, `src/cgroup/snapshot.ts` and `src/actions/types.ts`
 * (a test keeps them in sync).
 */

export type EventSource = "inotify" | "eventfd" | "psi" | "poll";
export interface CounterChange {
  /** The counter at the previous read. */
  readonly before: number;
  /** The counter now; after − before can exceed 1 when the kernel merged notifications. */
  readonly after: number;
}
interface EventBase {
  /** cgroup path relative to the hierarchy root ("" = root), no leading slash. */
  readonly cgroup: string;
  /** Monotonic milliseconds at which the notification was read. */
  readonly at: number;
  /** What led to the read: inotify (v2 files), eventfd (v1), psi (v2 triggers), poll (sweeps, the safety net, samples). */
  readonly source: EventSource;
}
export type MemoryEventKind = "memory_low" | "memory_high" | "memory_max" | "oom" | "oom_kill" | "oom_group_kill";
/** The process an OOM kill took, from the kernel's OOM report (/dev/kmsg). Memcg paths relative to the hierarchy root. */
export interface OomVictim {
  readonly pid: number;
  readonly comm: string;
  readonly oomMemcg: string | null;
  readonly taskMemcg: string | null;
  readonly constraint: string | null;
  readonly uid: number | null;
  readonly totalVmBytes: number;
  readonly anonRssBytes: number;
  readonly fileRssBytes: number;
  readonly shmemRssBytes: number | null;
  readonly oomScoreAdj: number | null;
  readonly kernelUsec: number;
}
export interface MemoryCounterEvent extends EventBase {
  readonly kind: MemoryEventKind;
  /** The kernel counter: the memory.events key of that name (v2); v1 oom_kill (memory.oom_control) and memory.failcnt (memory_max). */
  readonly counter: CounterChange;
  /** oom_kill only: the victim, when the kernel's report was read in time. */
  readonly victim?: OomVictim;
}
export interface UnderOomEvent extends EventBase {
  readonly kind: "under_oom";
  /** v1 memory.oom_control under_oom: true, tasks are stalled at the limit right now (a new stall, a re-stall, or a lasting stall re-offered); false, the recovery. */
  readonly underOom: boolean;
  /** v1 memory.oom_control oom_kill_disable: the OOM killer is off, so only more memory releases the tasks. */
  readonly oomKillDisable: boolean;
  /** How long cgwatch has seen this stall (ms, 0 when new); on recovery, how long it lasted. */
  readonly stalledMs: number;
}
export interface ReservationBreachEvent extends EventBase {
  readonly kind: "reservation_breach";
  /** Usage crossed the reservation upwards (true) or came back below it (false). */
  readonly above: boolean;
  /** Memory usage at the read, bytes. */
  readonly usageBytes: number;
  /** The reservation (v1 soft limit), bytes. */
  readonly reservationBytes: number;
}
export type PressureResource = "memory" | "cpu" | "io";
export type V1PressureLevel = "low" | "medium" | "critical";
/** What a PSI trigger fired on: the growth of its stall total over about one window. */
export interface PressureStall {
  /** The trigger's stall type: some (some tasks waiting) or full (all non-idle tasks stalled). */
  readonly type: "some" | "full";
  /** Growth of the stall total (µs) over `overMs`. */
  readonly stallUs: number;
  /** The interval that growth was measured over, ms. */
  readonly overMs: number;
  /** The trigger's threshold and window (µs). */
  readonly thresholdUs: number;
  /** The trigger's window (µs). */
  readonly windowUs: number;
}
export interface PressureEvent extends EventBase {
  readonly kind: "memory_pressure" | "cpu_pressure" | "io_pressure";
  /** Which resource is under pressure. */
  readonly resource: PressureResource;
  /** v1 memory.pressure_level notifications only. */
  readonly level?: V1PressureLevel;
  /** v2 PSI triggers only: the trigger that fired, as written to the kernel ("some 300000 2000000", µs). */
  readonly trigger?: string;
  /** PSI trigger firings (v2): the evidence of pressure. Decide on this, not on avg10. */
  readonly stall?: PressureStall;
  /** PSI some avg10, percent. Lags: often still 0.00 when a trigger first fires. */
  readonly someAvg10?: number;
  /** PSI full avg10, percent. */
  readonly fullAvg10?: number;
}
export interface CpuThrottledEvent extends EventBase {
  readonly kind: "cpu_throttled";
  /** cpu.stat nr_periods. */
  readonly periods: CounterChange;
  /** cpu.stat nr_throttled. */
  readonly throttledPeriods: CounterChange;
  /** cpu.stat throttled time in seconds (v1 ns and v2 µs converted). */
  readonly throttledSeconds: CounterChange;
  /** Δthrottled / Δperiods over the interval, 0..1. */
  readonly ratio: number;
  /** Length of the poll interval the deltas cover, seconds. */
  readonly intervalSeconds: number;
}
export interface PidsMaxEvent extends EventBase {
  readonly kind: "pids_max";
  /** pids.events max: forks refused at pids.max. */
  readonly counter: CounterChange;
}
export interface CgroupAddedEvent extends EventBase {
  readonly kind: "cgroup_added";
}
export interface CgroupRemovedEvent extends EventBase {
  readonly kind: "cgroup_removed";
}
/** Periodic snapshot for control-loop policies; on v2 it carries memory PSI avg10 (percent). */
export interface SampleEvent extends EventBase {
  readonly kind: "sample";
  /** v2: memory.pressure some avg10, percent. */
  readonly someAvg10?: number;
  /** v2: memory.pressure full avg10, percent. */
  readonly fullAvg10?: number;
}
export type WatchdogEvent =
  | MemoryCounterEvent
  | UnderOomEvent
  | ReservationBreachEvent
  | PressureEvent
  | CpuThrottledEvent
  | PidsMaxEvent
  | CgroupAddedEvent
  | CgroupRemovedEvent
  | SampleEvent;
export type EventKind = WatchdogEvent["kind"];

export type CgroupVersion = 1 | 2;
/** Read-only view of the cgroup. null = file absent on this kernel/controller; limits null = unlimited. */
export interface MemorySnapshot {
  /** The memory controller's cgroup version. */
  readonly version: CgroupVersion;
  /** memory.usage_in_bytes (v1) / memory.current (v2), bytes. */
  readonly usageBytes: number | null;
  /** memory.limit_in_bytes (v1) / memory.max (v2), bytes; null = unlimited. */
  readonly limitBytes: number | null;
  /** Swap only, bytes: v1 memsw limit minus the memory limit, v2 memory.swap.max; null = unlimited. */
  readonly swapLimitBytes: number | null;
  /** memory.soft_limit_in_bytes (v1) / memory.low (v2), bytes; null = none. */
  readonly reservationBytes: number | null;
  /** memory.high (v2), bytes; null = max, and always null on v1. */
  readonly highBytes: number | null;
  /** memory.swappiness (v1 only). */
  readonly swappiness: number | null;
  /** memory.oom_control oom_kill_disable (v1 only). */
  readonly oomKillDisable: boolean | null;
  /** memory.oom_control under_oom (v1 only). */
  readonly underOom: boolean | null;
  /** OOM kills so far: v1 memory.oom_control oom_kill, v2 memory.events oom_kill. */
  readonly oomKills: number | null;
}
export interface CpuSnapshot {
  /** The cpu controller's cgroup version. */
  readonly version: CgroupVersion;
  /** CFS quota per period, µs (cpu.cfs_quota_us / cpu.max); null = no quota. */
  readonly quotaUs: number | null;
  /** CFS period, µs (cpu.cfs_period_us / cpu.max). */
  readonly periodUs: number | null;
  /** CFS burst, µs (cpu.cfs_burst_us / cpu.max.burst). */
  readonly burstUs: number | null;
  /** v1 cpu.shares, or the v2 cpu.weight converted back to shares (runc's formula), so one unit on both. */
  readonly shares: number | null;
  /** v2 cpu.weight (null on v1). */
  readonly weight: number | null;
  /** CPU time consumed, seconds (cpuacct.usage / cpu.stat usage_usec). */
  readonly usageSeconds: number | null;
}
export interface PidsSnapshot {
  /** pids.current. */
  readonly current: number | null;
  /** pids.max; null = max. */
  readonly max: number | null;
}
/**
 * Who the cgroup is: its container engine, and when the engine's metadata on disk
 * was readable the container's name, image and labels (Docker labels, CRI-O's
 * Kubernetes labels), and for Kubernetes its pod and namespace.
 */
export interface ContainerSnapshot {
  readonly engine: "docker" | "podman" | "containerd" | "cri-o" | "systemd";
  /** Container id (64 hex), or the systemd unit name. */
  readonly id: string;
  readonly name: string | null;
  readonly image: string | null;
  readonly pod: string | null;
  readonly namespace: string | null;
  readonly labels: Readonly<Record<string, string>>;
}
export interface CgroupSnapshot {
  /** The cgroup's path relative to the hierarchy root (same as event.cgroup). */
  readonly path: string;
  /** null (or absent, in recorded traces) when the cgroup is no container or unit cgwatch recognises. */
  readonly container?: ContainerSnapshot | null;
  /** Labels from the config's watch rules that match this cgroup (e.g. { tier: "critical" }). */
  readonly labels: Readonly<Record<string, string>>;
  /** null: the cgroup is not in a memory hierarchy. */
  readonly memory: MemorySnapshot | null;
  /** null: the cgroup is not in a cpu hierarchy. */
  readonly cpu: CpuSnapshot | null;
  /** null: the cgroup is not in a pids hierarchy. */
  readonly pids: PidsSnapshot | null;
}

export type BytesOrMax = number | "max";
/** What a policy may ask for. Sizes are integer bytes (<= 1 PiB) or "max". */
export type Action =
  | { readonly kind: "set_memory_limit"; readonly bytes: BytesOrMax; readonly allowBelowUsage?: boolean }
  | { readonly kind: "set_swap_limit"; readonly bytes: BytesOrMax }
  | { readonly kind: "set_memory_reservation"; readonly bytes: BytesOrMax }
  | { readonly kind: "set_memory_high"; readonly bytes: BytesOrMax; readonly allowBelowUsage?: boolean }
  | { readonly kind: "set_swappiness"; readonly value: number }
  | { readonly kind: "set_oom_score_adj"; readonly value: number }
  | { readonly kind: "set_oom_kill_disable"; readonly disable: boolean }
  | { readonly kind: "set_oom_group"; readonly enable: boolean }
  | { readonly kind: "set_cpu_quota"; readonly quotaUs: number | "max"; readonly periodUs?: number }
  | { readonly kind: "set_cpu_burst"; readonly burstUs: number }
  | { readonly kind: "set_cpu_shares"; readonly shares: number }
  | { readonly kind: "set_cpuset"; readonly cpus?: string; readonly mems?: string }
  | { readonly kind: "set_pids_max"; readonly max: number | "max" }
  | { readonly kind: "set_io_weight"; readonly weight: number }
  | {
      readonly kind: "set_io_throttle";
      readonly device: string;
      readonly readBps?: number | "max";
      readonly writeBps?: number | "max";
      readonly readIops?: number | "max";
      readonly writeIops?: number | "max";
    }
  | { readonly kind: "freeze" }
  | { readonly kind: "thaw" }
  | { readonly kind: "kill" }
  | {
      readonly kind: "annotate";
      readonly message: string;
      readonly data?: Readonly<Record<string, string | number | boolean>>;
    };
export type ActionKind = Action["kind"];

export interface PolicyMeta {
  /** Lower-case, [a-z0-9._-], at most 64 characters; unique across loaded policies. */
  readonly name: string;
  readonly description?: string;
  /** Event kinds to receive. */
  readonly on: readonly EventKind[];
  /**
   * cgroup globs (`docker/*`, `system.slice/*.service`, `kubepods.slice/**`), or selectors by who the
   * cgroup is: `{ container: { name: "web-*" } }`, `{ path: "machine.slice/**", container: { image: "localhost/*" } }`,
   * `{ container: { namespace: "prod", labels: { "app.kubernetes.io/name": "api" } } }`. Any entry may match.
   * Default: every cgroup.
   */
  readonly match?: readonly MatchEntry[];
  /**
   * After proposing actions for a cgroup, skip its events for this long: "30s", "5m", or ms, measured
   * between events' `at`. The config's `policies.cooldowns.<name>` overrides it. A v1 stall under OOM
   * (`under_oom` with `underOom: true`) is never skipped.
   */
  readonly cooldown?: string | number;
  /** Defaults of ctx.params; the config overrides them key by key. */
  readonly params?: Readonly<Record<string, unknown>>;
  /**
   * Which cgroups a `sample` event concerns; every condition listed must hold, and for the others the
   * host neither reads a snapshot nor calls the policy. Only `sample` is filtered. Default: every cgroup.
   */
  readonly sampleOnly?: readonly SampleCondition[];
  /**
   * Which cgroups a `cgroup_added` event concerns, with the same conditions as `sampleOnly`: for the others
   * the host neither reads a snapshot nor calls the policy. Needs "cgroup_added" in `on`. Default: every cgroup.
   */
  readonly addedOnly?: readonly SampleCondition[];
}

/**
 * A condition of `sampleOnly` / `addedOnly`.
 * `cpu_quota`: the cgroup has a CPU quota (`cgroup.cpu.quotaUs !== null`); `memory_v1` / `memory_v2`:
 * `cgroup.memory.version` is 1 / 2; `labelled`: `cgroup.labels` has at least one label; `memory_psi` (`sampleOnly`
 * only): the sample carries memory PSI (`event.someAvg10` is a number: v2 with PSI on).
 */
export type SampleCondition = "cpu_quota" | "memory_v1" | "memory_v2" | "labelled" | "memory_psi";

/** Every given field must match; values are globs (`*` any run of characters, `?` one). */
export interface ContainerSelector {
  readonly engine?: string;
  readonly name?: string;
  readonly image?: string;
  readonly pod?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
}
export type MatchEntry = string | { readonly path?: string; readonly container?: ContainerSelector };

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface PolicyContext<P = Readonly<Record<string, any>>, S = Record<string, any>> {
  /** meta.params with config overrides; frozen. */
  readonly params: P;
  /** Persisted per policy and cgroup across calls and reloads (JSON, at most 16 KiB by default). Mutate or reassign. */
  state: S;
  /** Goes to the watchdog's log under { policy: name }, fields under `policyFields`; at most 10 calls per event by default. */
  log(level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** Return undefined/null or [] for no action; at most 8 actions by default. */
export type OnEvent<P = Readonly<Record<string, any>>, S = Record<string, any>> = (
  event: WatchdogEvent,
  cgroup: CgroupSnapshot,
  ctx: PolicyContext<P, S>,
) => readonly Action[] | null | undefined;
