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

/**
 * The process an OOM kill took, from the kernel's OOM report (/dev/kmsg), when
 * cgwatch could read it. Memcg paths are relative to the memory hierarchy root.
 */
export interface OomVictim {
  readonly pid: number;
  readonly comm: string;
  /** The memcg that hit its limit; null for a global OOM or when the kernel did not say. */
  readonly oomMemcg: string | null;
  /** The victim's own memcg; null when the kernel did not say. */
  readonly taskMemcg: string | null;
  /** "CONSTRAINT_MEMCG", "CONSTRAINT_NONE", …; null before 4.19. */
  readonly constraint: string | null;
  readonly uid: number | null;
  readonly totalVmBytes: number;
  readonly anonRssBytes: number;
  readonly fileRssBytes: number;
  readonly shmemRssBytes: number | null;
  readonly oomScoreAdj: number | null;
  /** Kernel time of the report, µs since boot. */
  readonly kernelUsec: number;
}

export interface MemoryCounterEvent extends EventBase {
  readonly kind: MemoryEventKind;
  readonly counter: CounterChange;
  /** oom_kill only: the victim named by the kernel's report, when it was read in time. */
  readonly victim?: OomVictim;
}

/**
 * v1 `under_oom`: a standing emergency, not an edge. `underOom: true` is
 * emitted for every read that shows tasks stalled at the limit and is news:
 * a new stall, each kernel notification of a re-stall (after a raise that
 * was not enough), and a stall that lasts, re-offered while it lasts.
 * `underOom: false` is the recovery. See `isEmergency`.
 */
export interface UnderOomEvent extends EventBase {
  readonly kind: "under_oom";
  readonly underOom: boolean;
  readonly oomKillDisable: boolean;
  /**
   * How long cgwatch has seen this stall (ms; 0 for a new stall); on recovery, how long it lasted. Measured
   * between reads' `at`, and a notification's follow-up re-reads carry its time: a stall released before
   * the next notification or re-offer reports 0.
   */
  readonly stalledMs: number;
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

/**
 * Tasks stalled under OOM right now (v1 `oom_kill_disable`): nothing in the
 * cgroup runs until memory is freed or the limit is raised. Such an event is
 * never held back by a cooldown (a policy's or the guardrails'), only by
 * the value guardrails and the global rate limit, and its answer is always
 * recorded (see the daemon's stall outcome).
 */
export function isEmergency(event: WatchdogEvent): boolean {
  return event.kind === "under_oom" && event.underOom;
}

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
