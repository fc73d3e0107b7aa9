/**
 * Host-side filters for the two events every watched cgroup gets whatever
 * the kernel says: the periodic `sample` (`meta.sampleOnly`) and
 * `cgroup_added` (`meta.addedOnly`). Sampling calls a policy for every
 * watched cgroup every `sampleIntervalMs`, and startup delivers one
 * `cgroup_added` per cgroup, each call with a snapshot read; most shipped
 * policies look at a fraction of them (only cgroups with a CPU quota, only
 * memory v2, only labelled ones: at 10,000 cgroups oom-protect-critical's
 * `cgroup_added` calls were 2.2 s of the 3.3 s to ready). A policy names the
 * cgroups these events concern, with one vocabulary for both keys, and the
 * host neither reads a snapshot for the others (wantsEvent, given the facts)
 * nor calls it.
 *
 * Only these two kinds are filtered: every other event is the kernel saying
 * something about this cgroup, and is delivered as before.
 */
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import type { EventKind, WatchdogEvent } from "../events/types.js";

/** The event kinds a policy may narrow, and the meta key that narrows each. */
export const FILTER_KEYS = { sample: "sampleOnly", cgroup_added: "addedOnly" } as const;

export type FilteredKind = keyof typeof FILTER_KEYS;
export type FilterKey = (typeof FILTER_KEYS)[FilteredKind];

export function isFilteredKind(kind: EventKind): kind is FilteredKind {
  return Object.hasOwn(FILTER_KEYS, kind);
}

/** The vocabulary of `meta.sampleOnly` and `meta.addedOnly`; every condition listed must hold. */
export const SAMPLE_CONDITIONS = {
  /** The cgroup has a CPU quota (cpu.max / cpu.cfs_quota_us not "max"/-1). */
  cpu_quota: "has a CPU quota",
  /** Its memory controller is cgroup v1. */
  memory_v1: "memory controller is cgroup v1",
  /** Its memory controller is cgroup v2 (memory.high, per-cgroup PSI). */
  memory_v2: "memory controller is cgroup v2",
  /** It has at least one label from the config (`cgroup.labels`). */
  labelled: "has a config label",
  /** The sample carries memory PSI (`event.someAvg10`): v2 with PSI on (a kernel built or booted without it has none). */
  memory_psi: "the sample carries memory PSI",
} as const;

export type SampleCondition = keyof typeof SAMPLE_CONDITIONS;

export function isSampleCondition(v: unknown): v is SampleCondition {
  return typeof v === "string" && Object.hasOwn(SAMPLE_CONDITIONS, v);
}

/**
 * What the filters need to know about a cgroup, passed by the caller of
 * `wantsEvent` before any snapshot is read (the watcher's tracker knows the
 * first two, the config rules the third, the sample event the fourth). A caller may over-approximate
 * (say "has a quota" for a quota on an ancestor): the snapshot decides again
 * at evaluation, so a superset costs a snapshot, never a missed call.
 */
export interface SampleFacts {
  readonly cpuQuota: boolean;
  readonly memoryVersion: 1 | 2 | null;
  readonly labelled: boolean;
  /** The event is a sample with memory PSI (`someAvg10`); false for every other event. */
  readonly memoryPsi: boolean;
}

function hasKeys(o: Readonly<Record<string, string>>): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

/** Whether the event is a sample that carries memory PSI (what pressure-relief decides a sample on). */
function carriesMemoryPsi(event: WatchdogEvent | undefined): boolean {
  return event?.kind === "sample" && typeof event.someAvg10 === "number";
}

/** The facts as the snapshot (and the event) show them (what evaluation checks). */
export function factsOfSnapshot(s: CgroupSnapshot, event?: WatchdogEvent): SampleFacts {
  return {
    cpuQuota: s.cpu !== null && s.cpu.quotaUs !== null,
    memoryVersion: s.memory?.version ?? null,
    labelled: hasKeys(s.labels),
    memoryPsi: carriesMemoryPsi(event),
  };
}

function holds(c: SampleCondition, f: SampleFacts): boolean {
  switch (c) {
    case "cpu_quota":
      return f.cpuQuota;
    case "memory_v1":
      return f.memoryVersion === 1;
    case "memory_v2":
      return f.memoryVersion === 2;
    case "labelled":
      return f.labelled;
    case "memory_psi":
      return f.memoryPsi;
  }
}

/** A policy's conditions for this event kind; undefined: the kind is not filtered, or the policy does not narrow it. */
export function conditionsFor(
  meta: { readonly [K in FilterKey]?: readonly SampleCondition[] },
  kind: EventKind,
): readonly SampleCondition[] | undefined {
  return isFilteredKind(kind) ? meta[FILTER_KEYS[kind]] : undefined;
}

/** Whether a sample (or cgroup_added) of a cgroup with these facts concerns a policy with this filter (absent: every cgroup). */
export function sampleConcerns(filter: readonly SampleCondition[] | undefined, facts: SampleFacts): boolean {
  if (filter === undefined) return true;
  for (const c of filter) if (!holds(c, facts)) return false;
  return true;
}

/**
 * The facts as the daemon knows them before a snapshot: the watcher's
 * tracker (quota on the cgroup or an ancestor, memory controller version) and
 * the config's labels. At `cgroup_added` the tracker exists already and has
 * read its quota (its baseline), and the labels are the ones the snapshot
 * would carry (the same cached `labelsOf`, in the same turn). No tracker:
 * undefined, i.e. no filtering before the snapshot (evaluation still filters
 * on the snapshot).
 */
export function sampleFactsOf(
  tracker: { hasCpuQuota(): boolean; readonly memoryVersion: 1 | 2 | null } | undefined,
  labels: Readonly<Record<string, string>>,
  event?: WatchdogEvent,
): SampleFacts | undefined {
  return tracker === undefined
    ? undefined
    : {
        cpuQuota: tracker.hasCpuQuota(),
        memoryVersion: tracker.memoryVersion,
        labelled: hasKeys(labels),
        memoryPsi: carriesMemoryPsi(event),
      };
}
