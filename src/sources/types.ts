/**
 * What a source tells the pipeline: "something may have changed, re-read".
 * Sources never count notifications (inotify merges unread events, the kernel
 * rate-limits cgroup_file_notify, eventfds coalesce into a counter); the
 * per-cgroup tracker re-reads the file and diffs counters, so a wake that
 * changed nothing emits nothing, and several increments behind one wake emit
 * the full delta.
 */
import type { EventSource, PressureResource, V1PressureLevel } from "../events/types.js";

export type Wake =
  /** Re-read `file` of `cgroup` (memory.events, memory.oom_control, cpu.stat, pids.events, cgroup.events ...). */
  | {
      readonly kind: "file_changed";
      readonly cgroup: string;
      readonly file: string;
      readonly source: EventSource;
      readonly at: number;
    }
  /** v1 memory.pressure_level eventfd fired: the level is the registration's, there is no file to re-read. */
  | { readonly kind: "pressure_level"; readonly cgroup: string; readonly level: V1PressureLevel; readonly at: number }
  /** v2 PSI trigger fd became readable with POLLPRI. */
  | {
      readonly kind: "psi_trigger";
      readonly cgroup: string;
      readonly resource: PressureResource;
      readonly trigger: string;
      readonly at: number;
    }
  /** v1 memory.usage_in_bytes crossed a registered threshold (either direction). */
  | {
      readonly kind: "threshold_crossed";
      readonly cgroup: string;
      readonly thresholdBytes: number;
      readonly at: number;
    };
