/**
 * The wake sources of one cgroup: inotify on the counter files the table
 * (events/counterFiles) marks `inotify` for the cgroup's hierarchy version
 * and on cgroup.events, PSI triggers (v2), and the v1 eventfds through the
 * native addon. v1 without the addon and v1 pids.events are polled by the
 * sweeps instead. An error in one source ends that source only.
 */
import { EMPTY, catchError, type Observable, type Unsubscribable } from "rxjs";
import { locateController, type CgroupLayout } from "../cgroup/layout.js";
import type { CounterFiles } from "../events/counterFiles/index.js";
import type { PressureResource, V1PressureLevel } from "../events/types.js";
import { watchFile } from "../sources/fileWatch.js";
import type { Wake } from "../sources/types.js";
import type { NativeNotifiers } from "./notifiers.js";
import type { CgroupTracker } from "./tracker.js";

export interface WakeOptions {
  readonly layout: CgroupLayout;
  readonly counterFiles: CounterFiles;
  readonly native: NativeNotifiers | null;
  readonly persistent: boolean;
  readonly now: () => number;
  readonly psiTriggers: Partial<Record<PressureResource, string>>;
  readonly pressureLevelsOf: (cgroup: string) => readonly V1PressureLevel[];
  readonly onSourceError?: (cgroup: string, source: string, err: unknown) => void;
}

export function guardWakes(
  cgroup: string,
  name: string,
  source: Observable<Wake>,
  onError?: (cgroup: string, source: string, err: unknown) => void,
): Observable<Wake> {
  return source.pipe(
    catchError((err: unknown) => {
      onError?.(cgroup, name, err);
      return EMPTY;
    }),
  );
}

/** Where a cgroup's wakes go (its life in the watch loop, perCgroup.ts). */
export interface WakeSink {
  onWake(wake: Wake): void;
}

/**
 * v2: inotify on the table's files and cgroup.events, as plain watches (no
 * Observable per file: ~3 per cgroup, see sources/fileWatch.ts); PSI
 * triggers when the addon is there.
 */
function startV2Wakes(tracker: CgroupTracker, o: WakeOptions, sink: WakeSink): Unsubscribable[] {
  const cgroup = tracker.cgroup;
  const started: Unsubscribable[] = [];
  const watch = (file: string, p: string | null): void => {
    if (p === null) return;
    try {
      const w = watchFile(cgroup, file, p, { persistent: o.persistent, now: o.now }, sink);
      if (w !== null) started.push(w);
    } catch (err) {
      o.onSourceError?.(cgroup, `inotify:${file}`, err);
    }
  };
  watch("cgroup.events", tracker.fileOf("memory", "cgroup.events"));
  for (const def of o.counterFiles.all) {
    const version = tracker.versionOf(def.controller);
    if (version !== null && def.notify[version] === "inotify")
      watch(def.file, tracker.fileOf(def.controller, def.file));
  }
  if (o.native === null) return started;
  const psi: Observable<Wake>[] = [];
  for (const [resource, trigger] of Object.entries(o.psiTriggers) as [PressureResource, string][]) {
    const p = locateController(o.layout, resource) === null ? null : tracker.fileOf(resource, `${resource}.pressure`);
    if (p !== null)
      psi.push(
        guardWakes(cgroup, `psi:${resource}`, o.native.psiTrigger(p, cgroup, resource, trigger), o.onSourceError),
      );
  }
  return started.concat(subscribeAll(psi, sink));
}

function subscribeAll(sources: readonly Observable<Wake>[], sink: WakeSink): Unsubscribable[] {
  if (sources.length === 0) return [];
  const onWake = (wake: Wake): void => sink.onWake(wake);
  return sources.map((s) => s.subscribe(onWake));
}

/** v1 with the addon: eventfds on OOM, the reservation threshold and the pressure levels asked for. */
function v1Wakes(tracker: CgroupTracker, native: NativeNotifiers, o: WakeOptions): Observable<Wake>[] {
  const cgroup = tracker.cgroup;
  // fileOf(..., "") is the cgroup's own directory in the memory hierarchy.
  const memDir = tracker.fileOf("memory", "");
  if (memDir === null) return [];
  // A notification's follow-up re-reads end once its kill was counted.
  const confirmed = (notifiedAt: number): boolean => tracker.counters.oomKillSeenAt === notifiedAt;
  return [
    guardWakes(cgroup, "eventfd:oom", native.v1Oom(memDir, cgroup, confirmed), o.onSourceError),
    guardWakes(
      cgroup,
      "eventfd:reservation",
      native.v1Reservation(memDir, cgroup, tracker.bornWatched),
      o.onSourceError,
    ),
    ...o
      .pressureLevelsOf(cgroup)
      .map((level) =>
        guardWakes(cgroup, `eventfd:pressure:${level}`, native.v1PressureLevel(memDir, cgroup, level), o.onSourceError),
      ),
  ];
}

/**
 * Starts each wake source of the cgroup, guarded, by the version of its
 * memory hierarchy as found on disk; each delivers to `sink` until
 * unsubscribed. A source that fails ends alone.
 */
export function startWakes(
  tracker: CgroupTracker,
  memoryVersion: 1 | 2 | null,
  o: WakeOptions,
  sink: WakeSink,
): Unsubscribable[] {
  if (memoryVersion === 2) return startV2Wakes(tracker, o, sink);
  if (memoryVersion === 1 && o.native !== null) return subscribeAll(v1Wakes(tracker, o.native, o), sink);
  return [];
}
