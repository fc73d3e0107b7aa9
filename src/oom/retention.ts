/**
 * The retention window of removed cgroups: the most common OOM of all kills
 * a container that is then removed at once, and an alert that needs two
 * scrapes and a `for` must still find its counters (and its name). A
 * removed cgroup is retired (series frozen), then expired after `windowMs`;
 * a cgroup re-created within the window is revived and starts afresh.
 */
export interface Retention {
  retire(cgroup: string, expire: () => void): void;
  /** Cancels a pending expiry; true if the cgroup was retained. */
  revive(cgroup: string): boolean;
  readonly size: number;
  /** Expires everything now (shutdown). */
  close(): void;
}

export function createRetention(options: { readonly windowMs: number; readonly persistent?: boolean }): Retention {
  const pending = new Map<string, { timer: NodeJS.Timeout; expire: () => void }>();
  return {
    retire(cgroup, expire) {
      const old = pending.get(cgroup);
      if (old !== undefined) {
        clearTimeout(old.timer);
        old.expire();
      }
      if (options.windowMs <= 0) {
        pending.delete(cgroup);
        expire();
        return;
      }
      const timer = setTimeout(() => {
        pending.delete(cgroup);
        expire();
      }, options.windowMs);
      if (!(options.persistent ?? true)) timer.unref();
      pending.set(cgroup, { timer, expire });
    },
    revive(cgroup) {
      const p = pending.get(cgroup);
      if (p === undefined) return false;
      clearTimeout(p.timer);
      pending.delete(cgroup);
      return true;
    },
    get size() {
      return pending.size;
    },
    close() {
      for (const p of pending.values()) clearTimeout(p.timer);
      pending.clear();
    },
  };
}
