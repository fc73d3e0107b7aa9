/**
 * The settings that decide what a tracker polls: a CPU quota (on the cgroup
 * or an ancestor: only then is cpu.stat polled for throttling) and, on v1, a
 * pids.max (v1 pids.events sends no notification, so it is polled).
 */
import { cgroupFiles, type CgroupFiles } from "../cgroup/cgroupFiles.js";
import type { CgroupLayout } from "../cgroup/layout.js";
import type { FileReader } from "../cgroup/read.js";

export interface TrackerSettings {
  hasCpuQuota(): boolean;
  pollsPids(): boolean;
  refresh(): void;
}

/** Whether a quota file's first field sets a quota ("max" on v2 and "-1" on v1 are none). */
function quotaSet(text: string): boolean {
  const first = text.trim().split(/\s+/)[0] ?? "";
  return first !== "max" && first !== "-1" && first !== "";
}

/** Whether the cgroup's own quota file sets one; null when no hierarchy carries cpu. */
function ownQuota(files: CgroupFiles): boolean | null {
  const version = files.versionOf("cpu");
  if (version === null) return null;
  const text = files.text("cpu", version === 1 ? "cpu.cfs_quota_us" : "cpu.max");
  return text !== null && quotaSet(text);
}

/**
 * A setting of the tracker's own cgroup, read one-shot: it is read at
 * startup and once per safety net, and a kept fd for it would take the
 * budget from the counters the event path re-reads on every wake (at 10k
 * cgroups under a 20,000-fd limit, cpu.max held a quarter of the budget).
 */
function settingOnce(files: CgroupFiles, controller: "cpu" | "pids", file: string): string | null {
  const r = files.readOnce(controller, file);
  return r?.kind === "ok" ? r.text : null;
}

/** ownQuota of the tracker's own cgroup, one-shot (settingOnce). */
function ownQuotaOnce(files: CgroupFiles): boolean | null {
  const version = files.versionOf("cpu");
  if (version === null) return null;
  const text = settingOnce(files, "cpu", version === 1 ? "cpu.cfs_quota_us" : "cpu.max");
  return text !== null && quotaSet(text);
}

/**
 * The quotas of ancestors, shared by the trackers of one watcher and kept
 * `maxAgeMs`: at startup (and every safety net) 10k sibling cgroups each ask
 * about the same few ancestors, which would otherwise be read once per
 * cgroup. A tracker's own quota is always read afresh (runc writes it after
 * the mkdir); an ancestor's is at most `maxAgeMs` old, next to the safety
 * net's interval between re-checks.
 */
export interface AncestorQuotas {
  /** Whether the ancestor sets a quota; null when no hierarchy carries cpu. */
  readonly of: (ancestor: string) => boolean | null;
}

export function ancestorQuotas(
  layout: CgroupLayout,
  reader: FileReader,
  now: () => number,
  maxAgeMs = 250,
): AncestorQuotas {
  const memo = new Map<string, { readonly quota: boolean | null; readonly at: number }>();
  return {
    of(ancestor) {
      const t = now();
      const hit = memo.get(ancestor);
      if (hit !== undefined && t - hit.at < maxAgeMs) return hit.quota;
      // Ancestors are few and read often: through the kept fds.
      const quota = ownQuota(cgroupFiles(layout, reader, ancestor));
      memo.set(ancestor, { quota, at: t });
      return quota;
    },
  };
}

/** Throttling can come from an ancestor's quota (v1 and v2 both): the cgroup or any ancestor with one. */
function anyQuota(files: CgroupFiles, ancestors: AncestorQuotas): boolean {
  const own = ownQuotaOnce(files);
  if (own !== false) return own === true;
  const segments = files.cgroup === "" ? [] : files.cgroup.split("/");
  for (let i = segments.length - 1; i >= 0; i--) {
    const quota = ancestors.of(segments.slice(0, i).join("/"));
    if (quota !== false) return quota === true;
  }
  return false;
}

/** One per watched cgroup: a class, so its methods are not closures per cgroup. */
class Settings implements TrackerSettings {
  private quota = false;
  private pidsPolled = false;

  constructor(
    private readonly files: CgroupFiles,
    private readonly quotas: AncestorQuotas,
  ) {}

  hasCpuQuota(): boolean {
    return this.quota;
  }

  pollsPids(): boolean {
    return this.pidsPolled;
  }

  refresh(): void {
    if (this.files.versionOf("pids") === 1) {
      const max = settingOnce(this.files, "pids", "pids.max");
      this.pidsPolled = max !== null && max.trim() !== "max";
    }
    this.quota = anyQuota(this.files, this.quotas);
  }
}

export function trackerSettings(
  layout: CgroupLayout,
  reader: FileReader,
  files: CgroupFiles,
  ancestors?: AncestorQuotas,
): TrackerSettings {
  // Without a shared memo (a tracker on its own), ancestors are read afresh.
  return new Settings(files, ancestors ?? ancestorQuotas(layout, reader, () => 0, 0));
}
