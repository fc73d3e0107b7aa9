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
export interface CounterChange { readonly before: number; readonly after: number }
interface EventBase {
  /** cgroup path relative to the hierarchy root ("" = root), no leading slash. */
  readonly cgroup: string;
  /** Monotonic milliseconds at which the notification was read. */
  readonly at: number;
  readonly source: EventSource;
}
export type MemoryEventKind = "memory_low" | "memory_high" | "memory_max" | "oom" | "oom_kill" | "oom_group_kill";
export interface MemoryCounterEvent extends EventBase { readonly kind: MemoryEventKind; readonly counter: CounterChange }
export interface UnderOomEvent extends EventBase { readonly kind: "under_oom"; readonly underOom: boolean; readonly oomKillDisable: boolean }
export interface ReservationBreachEvent extends EventBase {
  readonly kind: "reservation_breach";
  readonly above: boolean;
  readonly usageBytes: number;
  readonly reservationBytes: number;
}
export type PressureResource = "memory" | "cpu" | "io";
export type V1PressureLevel = "low" | "medium" | "critical";
/** What a PSI trigger fired on: the growth of its stall total over about one window. */
export interface PressureStall {
  readonly type: "some" | "full";
  /** Growth of the stall total (µs) over `overMs`. */
  readonly stallUs: number;
  readonly overMs: number;
  /** The trigger's threshold and window (µs). */
  readonly thresholdUs: number;
  readonly windowUs: number;
}
export interface PressureEvent extends EventBase {
  readonly kind: "memory_pressure" | "cpu_pressure" | "io_pressure";
  readonly resource: PressureResource;
  readonly level?: V1PressureLevel;
  readonly trigger?: string;
  /** PSI trigger firings (v2): the evidence of pressure. Decide on this, not on avg10. */
  readonly stall?: PressureStall;
  /** PSI some avg10, percent. Lags: often still 0.00 when a trigger first fires. */
  readonly someAvg10?: number;
  readonly fullAvg10?: number;
}
export interface CpuThrottledEvent extends EventBase {
  readonly kind: "cpu_throttled";
  readonly periods: CounterChange;
  readonly throttledPeriods: CounterChange;
  readonly throttledSeconds: CounterChange;
  /** Δthrottled / Δperiods over the interval, 0..1. */
  readonly ratio: number;
  readonly intervalSeconds: number;
}
export interface PidsMaxEvent extends EventBase { readonly kind: "pids_max"; readonly counter: CounterChange }
export interface CgroupAddedEvent extends EventBase { readonly kind: "cgroup_added" }
export interface CgroupRemovedEvent extends EventBase { readonly kind: "cgroup_removed" }
/** Periodic snapshot for control-loop policies; on v2 it carries memory PSI avg10 (percent). */
export interface SampleEvent extends EventBase { readonly kind: "sample"; readonly someAvg10?: number; readonly fullAvg10?: number }
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
  readonly version: CgroupVersion;
  readonly usageBytes: number | null;
  readonly limitBytes: number | null;
  readonly swapLimitBytes: number | null;
  readonly reservationBytes: number | null;
  readonly highBytes: number | null;
  readonly swappiness: number | null;
  readonly oomKillDisable: boolean | null;
  readonly underOom: boolean | null;
  readonly oomKills: number | null;
}
export interface CpuSnapshot {
  readonly version: CgroupVersion;
  readonly quotaUs: number | null;
  readonly periodUs: number | null;
  readonly burstUs: number | null;
  readonly shares: number | null;
  readonly weight: number | null;
  readonly usageSeconds: number | null;
}
export interface PidsSnapshot { readonly current: number | null; readonly max: number | null }
export interface CgroupSnapshot {
  readonly path: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly memory: MemorySnapshot | null;
  readonly cpu: CpuSnapshot | null;
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
  | { readonly kind: "annotate"; readonly message: string; readonly data?: Readonly<Record<string, string | number | boolean>> };
export type ActionKind = Action["kind"];

export interface PolicyMeta {
  /** Lower-case, [a-z0-9._-], at most 64 characters; unique across loaded policies. */
  readonly name: string;
  readonly description?: string;
  /** Event kinds to receive. */
  readonly on: readonly EventKind[];
  /** cgroup globs: `docker/*`, `system.slice/*.service`, `kubepods.slice/**`. Default: every cgroup. */
  readonly match?: readonly string[];
  /** After proposing actions for a cgroup, skip it for this long: "30s", "5m", or ms. */
  readonly cooldown?: string | number;
  /** Defaults of ctx.params; the config overrides them key by key. */
  readonly params?: Readonly<Record<string, unknown>>;
}

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
