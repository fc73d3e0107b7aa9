/**
 * Re-offers a lasting v1 stall under OOM. A stalled cgroup changes nothing
 * the kernel would notify about again: its tasks sleep until memory is freed
 * or the limit is raised. If the answer to the stall could not proceed (a
 * rate limit, a ceiling an operator may still lift, a policy that failed),
 * nothing would ever ask again but the 30 s safety net. So while a cgroup
 * stays stalled, its memory.oom_control is re-read after `baseMs`, then
 * twice as long after each re-offer that changed nothing, up to `maxMs`; a
 * new kernel notification (a re-stall) starts over at `baseMs`, and the
 * recovery or the cgroup's removal ends it.
 */
import type { WatchdogEvent } from "../events/types.js";

export interface StallReofferOptions {
  readonly baseMs: number;
  readonly maxMs: number;
  /** Re-read the cgroup's OOM state (emitting what it finds); returns whether it is still stalled. */
  readonly reoffer: (cgroup: string) => boolean;
  /** false: the timers do not keep the process alive (tests). */
  readonly persistent: boolean;
}

export interface StallReoffers {
  /** Every event the watcher emits goes through here. */
  observe(event: WatchdogEvent): void;
  /** Cgroups with a re-offer pending (for tests and status). */
  pending(): string[];
  stop(): void;
}

export function createStallReoffers(options: StallReofferOptions): StallReoffers {
  /** Per stalled cgroup: the armed timer (null while its re-read runs) and the delay it was armed with. */
  const stalls = new Map<string, { timer: NodeJS.Timeout | null; delayMs: number }>();

  const cancel = (cgroup: string): void => {
    const s = stalls.get(cgroup);
    if (s?.timer) clearTimeout(s.timer);
    stalls.delete(cgroup);
  };

  const arm = (cgroup: string, delayMs: number): void => {
    const old = stalls.get(cgroup);
    if (old?.timer) clearTimeout(old.timer);
    const entry: { timer: NodeJS.Timeout | null; delayMs: number } = { timer: null, delayMs };
    entry.timer = setTimeout(() => {
      if (stalls.get(cgroup) !== entry) return;
      entry.timer = null;
      const still = options.reoffer(cgroup);
      // The re-read emitted a re-offer (observe re-armed with a longer
      // delay) or the recovery (observe cancelled); if it emitted nothing
      // although the stall lasts (a sweep offered it moments ago), ask again.
      if (still && stalls.get(cgroup) === entry) arm(cgroup, delayMs);
      else if (!still && stalls.get(cgroup) === entry) stalls.delete(cgroup);
    }, delayMs);
    if (!options.persistent) entry.timer.unref();
    stalls.set(cgroup, entry);
  };

  return {
    observe(event) {
      if (event.kind === "cgroup_removed") cancel(event.cgroup);
      if (event.kind !== "under_oom") return;
      if (!event.underOom) {
        cancel(event.cgroup);
        return;
      }
      // A poll-sourced offer is a re-offer of the same stall: back off. A
      // notification is the kernel saying the tasks stalled again: start over.
      const previous = stalls.get(event.cgroup)?.delayMs;
      const delay =
        event.source === "poll" && previous !== undefined ? Math.min(options.maxMs, previous * 2) : options.baseMs;
      arm(event.cgroup, delay);
    },
    pending: () => [...stalls.keys()],
    stop() {
      for (const s of stalls.values()) if (s.timer) clearTimeout(s.timer);
      stalls.clear();
    },
  };
}
