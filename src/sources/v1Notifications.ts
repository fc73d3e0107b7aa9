/**
 * cgroup v1 memory notifications through eventfd (cgroup-v1/memory.rst
 * §9-§11): OOM (memory.oom_control), usage thresholds
 * (memory.usage_in_bytes, both directions), the reservation breach built on
 * a threshold at memory.soft_limit_in_bytes, and memory.pressure_level.
 * inotify never fires for these files, so this is the primary path; the
 * poller stays as the safety net.
 *
 * Removal: when a v1 cgroup is removed the kernel signals every eventfd
 * registered on it once more ("the event is going away"), and by then the
 * directory is gone. Such a tick is not an OOM nor a crossing: these sources
 * check the directory on every tick and, when it is gone, complete without
 * emitting (closing the fd the kernel will never signal again). The tracker
 * still sees the removal through directory discovery.
 */
import fs from "node:fs";
import { EMPTY, Observable, concat, distinctUntilChanged, map, merge, of, switchMap, takeWhile, timer } from "rxjs";
import type { V1PressureLevel } from "../events/types.js";
import { NativeSourceError, nativeFdTicks, type FdSourceOptions } from "./eventfd.js";
import type { Wake } from "./types.js";
import { readControlFile } from "../cgroup/read.js";
import { requireRegularFile } from "../cgroup/safeOpen.js";

export type V1NotificationFile =
  "memory.oom_control" | "memory.usage_in_bytes" | "memory.memsw.usage_in_bytes" | "memory.pressure_level";

/** A raw registration tick, before the removal check turns it into a wake (or not). */
export interface V1Tick {
  readonly count: number;
  readonly at: number;
  /** The cgroup directory no longer exists: this is the removal tick, not an event. */
  readonly cgroupGone: boolean;
}

export interface V1SourceOptions extends FdSourceOptions {
  /** Absolute directory of the cgroup in the memory hierarchy (cgroupDir(layout, cgroup, "memory")). */
  readonly dir: string;
  /** The cgroup's path relative to the hierarchy root, carried in the wakes. */
  readonly cgroup: string;
}

/** True when `dir` is gone: the removal tick check (also usable by the tracker). */
export function cgroupGone(dir: string): boolean {
  return fs.statSync(dir, { throwIfNoEntry: false }) === undefined;
}

/** Raw ticks of one cgroup.event_control registration, removal ticks included (flagged). */
export function v1EventfdTicks(
  dir: string,
  file: V1NotificationFile,
  args: string,
  options: FdSourceOptions = {},
): Observable<V1Tick> {
  return nativeFdTicks(
    `eventfd ${file}${args === "" ? "" : ` ${args}`} in ${dir}`,
    0,
    (native) => {
      requireRegularFile(`${dir}/${file}`);
      requireRegularFile(`${dir}/cgroup.event_control`);
      return native.openV1Notification(dir, file, args);
    },
    options,
  ).pipe(map((t) => ({ count: t.count, at: t.at, cgroupGone: cgroupGone(dir) })));
}

/** Ticks up to (not including) the removal tick, then completion. */
function untilRemoved(ticks: Observable<V1Tick>): Observable<V1Tick> {
  return ticks.pipe(takeWhile((t) => !t.cgroupGone));
}

/**
 * Follow-up re-reads after an OOM notification. The kernel signals the
 * eventfd when it enters OOM handling (mem_cgroup_oom: mark under_oom,
 * notify), *before* the OOM killer has chosen and killed a victim and
 * counted oom_kill (measured: ~3 ms later on this kind of machine), so the
 * read at the notification usually still shows the old oom_kill. Re-reads at
 * 1, 2, 4, 8 ... ms after it catch the increment within about a millisecond
 * (each re-read is one pread of a kept fd); they stop once the notification
 * is confirmed (its oom_kill counted), and the last, at 1 s, is the bound
 * for a kill that takes long or a stall that never kills (oom_kill_disable).
 * Extra wakes never double-count: the tracker diffs counters, and a stall's
 * re-reads share their notification's time, so they re-offer nothing.
 */
export const OOM_CONFIRM_DELAYS_MS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000];

export interface V1OomOptions extends V1SourceOptions {
  /** Re-read delays after each notification; [] for none. */
  readonly settleDelaysMs?: readonly number[];
  /** True once the notification read at `notifiedAt` is confirmed (its oom_kill counted): its remaining re-reads are dropped. */
  readonly confirmed?: (notifiedAt: number) => boolean;
}

/**
 * OOM notifications: wakes to re-read memory.oom_control (oom_kill,
 * under_oom), one at the notification and one after each settle delay until
 * confirmed (a new notification restarts the schedule); every wake carries
 * the notification's time. The kernel also fires at once when registered on
 * a cgroup already under OOM, so a stalled cgroup found at startup is reported.
 */
export function v1OomWakes(options: V1OomOptions): Observable<Wake> {
  const delays = options.settleDelaysMs ?? OOM_CONFIRM_DELAYS_MS;
  const confirmed = options.confirmed ?? (() => false);
  const wake = (at: number): Wake => ({
    kind: "file_changed",
    cgroup: options.cgroup,
    file: "memory.oom_control",
    source: "eventfd",
    at,
  });
  return untilRemoved(v1EventfdTicks(options.dir, "memory.oom_control", "", options)).pipe(
    switchMap((t) =>
      concat(
        of(wake(t.at)),
        merge(...delays.map((ms) => timer(ms))).pipe(
          takeWhile(() => !confirmed(t.at)),
          map(() => wake(t.at)),
        ),
      ),
    ),
  );
}

export interface V1ThresholdOptions extends V1SourceOptions {
  readonly thresholdBytes: number;
  /** Register on memory.memsw.usage_in_bytes (memory + swap) instead. */
  readonly swap?: boolean;
}

/**
 * Usage crossed `thresholdBytes`, in either direction (the kernel checks
 * every ~128 page events, so not byte-exact). The wake does not say which
 * direction: the tracker re-reads usage.
 */
export function v1ThresholdWakes(options: V1ThresholdOptions): Observable<Wake> {
  const bytes = options.thresholdBytes;
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    return new Observable<Wake>((s) =>
      s.error(
        new NativeSourceError(
          "invalid_argument",
          `threshold must be a non-negative integer of bytes, got ${String(bytes)}`,
        ),
      ),
    );
  }
  const file = options.swap === true ? "memory.memsw.usage_in_bytes" : "memory.usage_in_bytes";
  return untilRemoved(v1EventfdTicks(options.dir, file, String(bytes), options)).pipe(
    map((t): Wake => ({ kind: "threshold_crossed", cgroup: options.cgroup, thresholdBytes: bytes, at: t.at })),
  );
}

/**
 * v1 reports "no soft limit" as PAGE_COUNTER_MAX pages (9223372036854771712
 * with 4 KiB pages); anything beyond 2^53 bytes (8 PiB) is no limit in
 * practice and cannot be written back exactly from a JS number anyway.
 */
export function isUnlimitedV1(bytes: number): boolean {
  return !Number.isSafeInteger(bytes);
}

/** memory.soft_limit_in_bytes of `dir` (throws if unreadable: the cgroup is gone). */
export function readV1SoftLimit(dir: string): number {
  // Non-blocking, regular files only: a FIFO here must not freeze the loop.
  const r = readControlFile(`${dir}/memory.soft_limit_in_bytes`);
  if (r.kind !== "ok")
    throw new Error(`cannot read memory.soft_limit_in_bytes in ${dir}: ${r.kind === "gone" ? "gone" : r.message}`);
  const text = r.text.trim();
  if (!/^\d+$/.test(text)) throw new Error(`unexpected memory.soft_limit_in_bytes in ${dir}: ${JSON.stringify(text)}`);
  return Number(text);
}

export interface ReservationBreachOptions extends V1SourceOptions {
  /**
   * The soft limit over time, e.g. the tracker's re-reads of
   * memory.soft_limit_in_bytes (start with the current value). Each new
   * value re-arms: the old registration's fds are closed, a threshold at the
   * new value is registered; an unlimited value leaves none. Omitted: the
   * current value is read once at subscribe.
   */
  readonly softLimits?: Observable<number>;
}

/**
 * Reservation breach (docker --memory-reservation on v1): usage crossing
 * memory.soft_limit_in_bytes, both directions, as threshold wakes whose
 * thresholdBytes is the soft limit in force.
 */
export function reservationBreachWakes(options: ReservationBreachOptions): Observable<Wake> {
  const limits =
    options.softLimits ??
    new Observable<number>((s) => {
      try {
        s.next(readV1SoftLimit(options.dir));
        s.complete();
      } catch (err) {
        s.error(new NativeSourceError("open_failed", err instanceof Error ? err.message : String(err)));
      }
    });
  return limits.pipe(
    distinctUntilChanged(),
    switchMap((bytes) => (isUnlimitedV1(bytes) ? EMPTY : v1ThresholdWakes({ ...options, thresholdBytes: bytes }))),
  );
}

export type V1PressureMode = "default" | "hierarchy" | "local";

export interface V1PressureOptions extends V1SourceOptions {
  readonly level: V1PressureLevel;
  /**
   * default: only the deepest cgroup with a listener is told; hierarchy:
   * every ancestor's listener too; local: only pressure in this cgroup itself.
   */
  readonly mode?: V1PressureMode;
}

/** The registration argument: "critical", "low,hierarchy". */
export function pressureLevelArg(level: V1PressureLevel, mode: V1PressureMode = "default"): string {
  return mode === "default" ? level : `${level},${mode}`;
}

/** memory.pressure_level at `level` or higher. Bursty (tens per second under reclaim); one wake per drained read. */
export function v1PressureLevelWakes(options: V1PressureOptions): Observable<Wake> {
  return untilRemoved(
    v1EventfdTicks(options.dir, "memory.pressure_level", pressureLevelArg(options.level, options.mode), options),
  ).pipe(map((t): Wake => ({ kind: "pressure_level", cgroup: options.cgroup, level: options.level, at: t.at })));
}
