/**
 * One declaration per kernel counter file cgwatch watches: where the file
 * lives (controller, hierarchy versions), how a change is noticed, how it
 * parses (cgroup/parse.ts), how two reads diff into events
 * (events/diffCounters.ts) and which metric series mirror it. The watcher
 * (which files to watch), the tracker (re-read + diff), the publisher and
 * the metrics (which series an event raises, which start at 0) all read the
 * registry built here, so no list of file names is kept in step by hand.
 */
import type { CgroupVersion, Controller } from "../../cgroup/layout.js";
import type { Parsed } from "../../cgroup/parse.js";
import type { ReadContext, StallState } from "../diffCounters.js";
import type { EventKind, MemoryEventKind, WatchdogEvent } from "../types.js";

/** The metric family (label `event`) a counter file's values are mirrored in. */
export type CounterFamily = "memory_events" | "pids_events";

/** Event kinds that carry a counter change and raise a mirror series. */
export type CounterEventKind = MemoryEventKind | "pids_max";

/**
 * How a change of the file reaches cgwatch on one hierarchy version:
 * inotify (the watcher subscribes it), eventfd (a native notifier wakes the
 * tracker with this file), poll (the sweeps re-read it).
 */
export type Notify = "inotify" | "eventfd" | "poll";

/** What a diff may keep beyond the file's last value: the v1 stall under OOM and the last confirmed kill. */
export interface CounterState {
  stall: StallState | null;
  oomKillSeenAt: number | null;
}

/** Where the publisher mirrors gauges a counter file also carries (v1 under_oom). */
export interface CounterGaugeSink {
  setUnderOom(cgroup: string, underOom: boolean): void;
}

export interface CounterFileDef<K extends string, T> {
  /** Name of the file's last value in the tracker's counters (`tracker.counters[key]`). */
  readonly key: K;
  readonly file: string;
  readonly controller: Controller;
  /** How a change is noticed, per version of the hierarchy that carries `controller`; a version absent has no such file. */
  readonly notify: Readonly<Partial<Record<CgroupVersion, Notify>>>;
  /**
   * Re-read one-shot unless it is polled: for a file whose wakes are rare
   * (pids.events wakes when a fork is refused), so the fds kept within the
   * budget go to the files read on every wake. Absent: always through a kept fd.
   */
  readonly keptOnlyWhenPolled?: true;
  parse(text: string): Parsed<T>;
  /** The value of a cgroup created while watched: its kernel counters started at 0 (TrackerOptions.bornWatched). */
  readonly zero: T;
  /** Events between two reads (prev null: the first read, a baseline). May update `state`. */
  diff(prev: T | null, next: T, ctx: ReadContext, state: CounterState): WatchdogEvent[];
  readonly metric: {
    readonly family: CounterFamily;
    /** The series (label) an event of each kind the diff emits raises to its `counter.after`. */
    readonly events: Readonly<Partial<Record<CounterEventKind, string>>>;
    /** Absolute values by label, mirrored by the publisher on each pass. */
    values(value: T): Readonly<Record<string, number>>;
    /** Gauges the file carries besides its counters. */
    gauges?(value: T, cgroup: string, sink: CounterGaugeSink): void;
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry holds files of every value type; each def is checked where it is declared
export type AnyCounterFile = CounterFileDef<string, any>;

/** Infers a declaration's key and value type (one call per counter file module). */
export function defineCounterFile<K extends string, T>(def: CounterFileDef<K, T>): CounterFileDef<K, T> {
  return def;
}

/** The series an event raises. */
export interface CounterMirror {
  readonly family: CounterFamily;
  readonly label: string;
}

export interface CounterFiles {
  /** In sweep order: a sweep reads them in this order, so their events come in it. */
  readonly all: readonly AnyCounterFile[];
  byFile(file: string): AnyCounterFile | undefined;
  /** Whether the file exists on a hierarchy of that version. */
  hasFile(def: AnyCounterFile, version: CgroupVersion | null): boolean;
  /**
   * The series an event raises, on a cgroup whose memory hierarchy has
   * `memoryVersion` (unknown: read as v2). Null for events that mirror no
   * counter. v1 memory.failcnt's memory_max raises `failcnt`, v2's `max`.
   */
  mirrorOf(kind: EventKind, memoryVersion: CgroupVersion | null): CounterMirror | null;
  /** Labels of `family` a new cgroup starts at 0, given the version of each controller's hierarchy (null: none). */
  zeroLabels(family: CounterFamily, versionOf: (controller: Controller) => CgroupVersion | null): string[];
}

const VERSIONS: readonly CgroupVersion[] = [1, 2];

/**
 * Builds the lookups. Two files that would raise different series for the
 * same event kind on the same version are a declaration error, thrown at
 * once (at startup, or in the test that registers them).
 */
export function createCounterFiles(defs: readonly AnyCounterFile[]): CounterFiles {
  const byFile = new Map<string, AnyCounterFile>();
  const mirrors = new Map<CgroupVersion, Map<EventKind, CounterMirror>>(VERSIONS.map((v) => [v, new Map()]));
  for (const def of defs) {
    if (byFile.has(def.file)) throw new Error(`counter file ${def.file} is declared twice`);
    byFile.set(def.file, def);
    for (const v of VERSIONS) {
      if (def.notify[v] === undefined) continue;
      for (const [kind, label] of Object.entries(def.metric.events) as [CounterEventKind, string][]) {
        const byKind = mirrors.get(v);
        const taken = byKind?.get(kind);
        if (taken !== undefined && (taken.family !== def.metric.family || taken.label !== label)) {
          throw new Error(
            `${def.file}: ${kind} on cgroup v${v} already raises ${taken.family}{event="${taken.label}"}`,
          );
        }
        byKind?.set(kind, { family: def.metric.family, label });
      }
    }
  }
  const hasFile = (def: AnyCounterFile, version: CgroupVersion | null): boolean =>
    version !== null && def.notify[version] !== undefined;
  return {
    all: [...defs],
    byFile: (file) => byFile.get(file),
    hasFile,
    mirrorOf: (kind, memoryVersion) => mirrors.get(memoryVersion ?? 2)?.get(kind) ?? null,
    zeroLabels(family, versionOf) {
      const labels = new Set<string>();
      for (const def of defs) {
        if (def.metric.family === family && hasFile(def, versionOf(def.controller)))
          for (const label of Object.values(def.metric.events)) labels.add(label);
      }
      return [...labels];
    },
  };
}
