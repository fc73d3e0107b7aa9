/**
 * The per-cgroup side of the metrics: which cgroups have series (watched,
 * or retired and kept for the retention window), their info series, and
 * the counters a cgroup created while watched starts at 0.
 */
import type { CgroupVersion, Controller } from "../cgroup/layout.js";
import type { CounterFiles } from "../events/counterFiles/index.js";
import type { Families } from "./families.js";
import * as N from "./names.js";
import { counterFamily } from "./recordEvent.js";
import { CgroupEntry, type Series } from "./store.js";

export interface AddCgroupOptions {
  /**
   * "created": the cgroup appeared while cgwatch was watching, so its kernel
   * counters started at 0 then; its counters are exposed starting at 0 (held
   * at 0 until one scrape has seen them), so increase() sees its first OOM.
   * "startup": found at start; counters appear with their current values
   * (no false alert for OOM kills that predate cgwatch).
   */
  readonly origin: "startup" | "created";
  /** Which memory counters to zero-initialise: v1 has oom_kill and failcnt, v2 the memory.events keys. */
  readonly memory?: CgroupVersion | null;
  /** Zero-initialise the cpu.stat mirrors (cgroups that have a cpu controller). */
  readonly cpu?: CgroupVersion | null;
  readonly pids?: boolean;
  /** Who the cgroup is (engine, container, pod): labels of its cgwatch_cgroup_info series. */
  readonly identity?: N.IdentityLabelValues | null;
}

type InfoVersions = { readonly memory: string; readonly cpu: string };

const versionOrNull = (v: CgroupVersion | null | undefined): CgroupVersion | null => (v === 1 || v === 2 ? v : null);

export interface CgroupEntries {
  /** A watched cgroup's entry. */
  readonly live: (cgroup: string) => CgroupEntry | undefined;
  /** A watched or retired cgroup's entry. */
  readonly any: (cgroup: string) => CgroupEntry | undefined;
  readonly memoryVersionOf: (cgroup: string) => CgroupVersion | null;
  readonly add: (cgroup: string, o: AddCgroupOptions) => void;
  readonly remove: (cgroup: string) => void;
  readonly retire: (cgroup: string) => void;
  readonly setIdentity: (cgroup: string, identity: N.IdentityLabelValues | null) => void;
  readonly size: number;
}

export function cgroupEntries(f: Families, table: CounterFiles, watchedSeries: Series): CgroupEntries {
  const cgroups = new Map<string, CgroupEntry>();
  /** Removed cgroups whose series are kept for the retention window. */
  const retired = new Map<string, CgroupEntry>();
  const infoLabels = new Map<string, InfoVersions>();
  /** Memory controller version per cgroup: v1 and v2 name the same happenings differently. */
  const memoryVersions = new Map<string, CgroupVersion>();
  const setInfo = (
    e: CgroupEntry,
    versions: InfoVersions,
    identity: N.IdentityLabelValues | null | undefined,
  ): void => {
    e.dropAllOf(f.info, () => false);
    e.get(f.info, [versions.memory, versions.cpu, ...N.IDENTITY_LABELS.map((l) => identity?.[l] ?? "")]).value = 1;
  };
  const dropRetired = (cgroup: string): void => {
    retired.get(cgroup)?.clear();
    retired.delete(cgroup);
  };
  return {
    live: (cgroup) => cgroups.get(cgroup),
    any: (cgroup) => cgroups.get(cgroup) ?? retired.get(cgroup),
    memoryVersionOf: (cgroup) => memoryVersions.get(cgroup) ?? null,
    add(cgroup, o) {
      if (cgroups.has(cgroup)) return;
      // Re-created within its retention window: the old series go, the new cgroup starts afresh.
      dropRetired(cgroup);
      const fresh = o.origin === "created";
      const e = new CgroupEntry(cgroup, fresh);
      const memory = versionOrNull(o.memory);
      if (memory !== null) memoryVersions.set(cgroup, memory);
      cgroups.set(cgroup, e);
      watchedSeries.value = cgroups.size;
      const versions = {
        memory: memory === null ? "" : String(memory),
        cpu: versionOrNull(o.cpu) === null ? "" : String(o.cpu),
      };
      infoLabels.set(cgroup, versions);
      setInfo(e, versions, o.identity);
      // Pre-existing cgroups get their counters from the first read (their
      // kernel values may be far from 0); new ones start at 0 right away.
      if (fresh) startAtZero(f, table, e, o);
    },
    remove(cgroup) {
      memoryVersions.delete(cgroup);
      infoLabels.delete(cgroup);
      dropRetired(cgroup);
      const e = cgroups.get(cgroup);
      if (e === undefined) return;
      e.clear();
      cgroups.delete(cgroup);
      watchedSeries.value = cgroups.size;
    },
    retire(cgroup) {
      const e = cgroups.get(cgroup);
      if (e === undefined) return;
      cgroups.delete(cgroup);
      retired.set(cgroup, e);
      watchedSeries.value = cgroups.size;
    },
    setIdentity(cgroup, identity) {
      const e = cgroups.get(cgroup) ?? retired.get(cgroup);
      const versions = infoLabels.get(cgroup);
      if (e !== undefined && versions !== undefined) setInfo(e, versions, identity);
    },
    get size() {
      return cgroups.size;
    },
  };
}

/** The counters of a cgroup created while watched: its counter files' series (from the table), under_oom (v1), cpu.stat's. */
function startAtZero(f: Families, table: CounterFiles, e: CgroupEntry, o: AddCgroupOptions): void {
  const memory = versionOrNull(o.memory);
  // Whether a pids hierarchy is v1 or v2 is not passed; pids.events is the same file on both.
  const versionOf = (c: Controller): CgroupVersion | null =>
    c === "memory" ? memory : c === "cpu" ? versionOrNull(o.cpu) : c === "pids" && o.pids === true ? 2 : null;
  for (const label of table.zeroLabels("memory_events", versionOf)) e.get(counterFamily(f, "memory_events"), [label]);
  if (memory === 1) e.get(f.underOom);
  if (versionOrNull(o.cpu) !== null) {
    for (const fam of [f.cpuUsage, f.cpuPeriods, f.cpuThrottledPeriods, f.cpuThrottledSeconds]) e.get(fam);
  }
  for (const label of table.zeroLabels("pids_events", versionOf)) e.get(counterFamily(f, "pids_events"), [label]);
}
