/**
 * The typed event union: every kernel signal cgwatch observes becomes exactly
 * one of these. Events are plain JSON-serialisable data because they cross
 * into policy sandboxes and into the log (and `cgwatch policy test` replays
 * them from the log), so no class instances, bigints or functions here.
 */

/** Where the notification that led to the re-read came from. */
export type EventSource = "inotify" | "eventfd" | "psi" | "poll";

/** A kernel counter re-read: `before` is the last value seen, `after` the new one. */
export interface CounterChange {
  readonly before: number;
  readonly after: number;
}

interface EventBase {
  /** cgroup path relative to the hierarchy root, "" for the root itself, never a leading slash. */
  readonly cgroup: string;
  /** Monotonic milliseconds (performance.now()) at which the notification was read. */
  readonly at: number;
  readonly source: EventSource;
}

/** v2 memory.events keys (and v1 equivalents) that are counters of kernel happenings. */
export type MemoryEventKind = "memory_low" | "memory_high" | "memory_max" | "oom" | "oom_kill" | "oom_group_kill";

export interface MemoryCounterEvent extends EventBase {
  readonly kind: MemoryEventKind;
  readonly counter: CounterChange;
}

/** v1 `under_oom` edge: tasks are stalled (true) or released (false). */
export interface UnderOomEvent extends EventBase {
  readonly kind: "under_oom";
  readonly underOom: boolean;
  readonly oomKillDisable: boolean;
}

/** Memory usage crossed the reservation (v1 soft limit) upwards (`above`) or back down. */
export interface ReservationBreachEvent extends EventBase {
  readonly kind: "reservation_breach";
  readonly above: boolean;
  readonly usageBytes: number;
  readonly reservationBytes: number;
}

export type PressureResource = "memory" | "cpu" | "io";
export type V1PressureLevel = "low" | "medium" | "critical";

/**
 * What a PSI trigger's firing measured: the growth of the stall `total` the
 * trigger watches (`some` or `full`), over about one trigger window. The
 * trigger's own threshold and window come along, so a policy can compare.
 */
export interface PressureStall {
  readonly type: "some" | "full";
  /** Growth of the stall total, in microseconds, over `overMs`. */
  readonly stallUs: number;
  /** The span the growth was measured over (ms): one window or a little more; less only right after cgwatch began watching. */
  readonly overMs: number;
  /** The trigger's threshold and window (µs), as registered with the kernel. */
  readonly thresholdUs: number;
  readonly windowUs: number;
}

/** v1 memory.pressure_level notification, or a v2 PSI trigger firing. */
export interface PressureEvent extends EventBase {
  readonly kind: "memory_pressure" | "cpu_pressure" | "io_pressure";
  readonly resource: PressureResource;
  /** v1 pressure level registrations only. */
  readonly level?: V1PressureLevel;
  /** PSI: the trigger that fired, e.g. "some 150000 1000000". */
  readonly trigger?: string;
  /**
   * PSI: the stall the trigger fired on, from the pressure file's totals.
   * The evidence of pressure; a wake whose total did not move is no event.
   */
  readonly stall?: PressureStall;
  /** PSI: the `some`/`full` avg10 at the time of the read. Informational: avg10 lags (often 0.00 at a trigger's first wake). */
  readonly someAvg10?: number;
  readonly fullAvg10?: number;
}

/** CPU throttling over one poll interval (deltas of cpu.stat). */
export interface CpuThrottledEvent extends EventBase {
  readonly kind: "cpu_throttled";
  readonly periods: CounterChange;
  readonly throttledPeriods: CounterChange;
  /** Throttled time in seconds (v1 ns and v2 µs normalised). */
  readonly throttledSeconds: CounterChange;
  /** Δthrottled / Δperiods over the interval, 0..1. */
  readonly ratio: number;
  readonly intervalSeconds: number;
}

export interface PidsMaxEvent extends EventBase {
  readonly kind: "pids_max";
  readonly counter: CounterChange;
}

export interface CgroupAddedEvent extends EventBase {
  readonly kind: "cgroup_added";
}

export interface CgroupRemovedEvent extends EventBase {
  readonly kind: "cgroup_removed";
}

/** Periodic snapshot for control-loop policies (senpai-like). */
export interface SampleEvent extends EventBase {
  readonly kind: "sample";
  /** v2: memory.pressure `some`/`full` avg10 at the time of the sample (absent on v1 or when unreadable). */
  readonly someAvg10?: number;
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

/** Every event kind, for validating `meta.on` of policies and config keys. */
export const EVENT_KINDS: readonly EventKind[] = [
  "memory_low",
  "memory_high",
  "memory_max",
  "oom",
  "oom_kill",
  "oom_group_kill",
  "under_oom",
  "reservation_breach",
  "memory_pressure",
  "cpu_pressure",
  "io_pressure",
  "cpu_throttled",
  "pids_max",
  "cgroup_added",
  "cgroup_removed",
  "sample",
] as const;

export function isEventKind(value: string): value is EventKind {
  return (EVENT_KINDS as readonly string[]).includes(value);
}
