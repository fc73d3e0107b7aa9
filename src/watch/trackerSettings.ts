/**
 * The settings that decide what a tracker polls: a CPU quota (on the cgroup
 * or an ancestor: only then is cpu.stat polled for throttling) and, on v1, a
 * pids.max (v1 pids.events sends no notification, so it is polled).
 */
import { cgroupFiles, type CgroupFiles } from "../cgroup/cgroupFiles.js";
import type { CgroupLayout } from "../cgroup/layout.js";
import type { FileReader } from "../cgroup/read.js";

export interface TrackerSettings {
  readonly hasCpuQuota: () => boolean;
  readonly pollsPids: () => boolean;
  readonly refresh: () => void;
}

/** Whether a quota file's first field sets a quota ("max" on v2 and "-1" on v1 are none). */
function quotaSet(text: string): boolean {
  const first = text.trim().split(/\s+/)[0] ?? "";
  return first !== "max" && first !== "-1" && first !== "";
}

/** Throttling can come from an ancestor's quota (v1 and v2 both): the cgroup or any ancestor with one. */
function anyQuota(layout: CgroupLayout, reader: FileReader, files: CgroupFiles): boolean {
  const segments = files.cgroup === "" ? [] : files.cgroup.split("/");
  for (let i = segments.length; i >= 0; i--) {
    const anc = i === segments.length ? files : cgroupFiles(layout, reader, segments.slice(0, i).join("/"));
    const version = anc.versionOf("cpu");
    if (version === null) return false;
    const text = anc.text("cpu", version === 1 ? "cpu.cfs_quota_us" : "cpu.max");
    if (text !== null && quotaSet(text)) return true;
  }
  return false;
}

export function trackerSettings(layout: CgroupLayout, reader: FileReader, files: CgroupFiles): TrackerSettings {
  let quota = false;
  let pidsPolled = false;
  return {
    hasCpuQuota: () => quota,
    pollsPids: () => pidsPolled,
    refresh() {
      if (files.versionOf("pids") === 1) {
        const max = files.text("pids", "pids.max");
        pidsPolled = max !== null && max.trim() !== "max";
      }
      quota = anyQuota(layout, reader, files);
    },
  };
}
