/**
 * Re-read + diff of the watched counter files (events/counterFiles): read
 * the file, parse it, diff it against the last value and keep the new one.
 * A gone or unreadable file yields nothing (removing a v1 cgroup signals
 * every eventfd once more: the file is gone then, and a gone file is not an
 * OOM); a malformed one is reported and leaves the baseline where it was.
 */
import type { CgroupFiles } from "../cgroup/cgroupFiles.js";
import type { AnyCounterFile, CounterFiles, CounterState } from "../events/counterFiles/index.js";
import type { ReadContext } from "../events/diffCounters.js";
import type { WatchdogEvent } from "../events/types.js";
import type { TrackerProblems } from "./trackerProblems.js";

export interface CounterReads {
  /** Re-reads one counter file (a wake named it). */
  read(def: AnyCounterFile, ctx: ReadContext): WatchdogEvent[];
  /** Re-reads every counter file the cgroup has, in table order, whose controller passes `only` (default: all). */
  sweep(ctx: ReadContext, out: WatchdogEvent[], only?: (def: AnyCounterFile) => boolean): void;
}

/** Whether re-reads of the file go one-shot (CounterFileDef.keptOnlyWhenPolled). */
function readsRarely(def: AnyCounterFile, files: CgroupFiles): boolean {
  if (def.keptOnlyWhenPolled !== true) return false;
  const version = files.versionOf(def.controller);
  return version === null || def.notify[version] !== "poll";
}

/**
 * `values` holds each file's last value under its key (TrackedCounters);
 * `state` is what diffs keep beyond it (the v1 stall).
 */
export function counterReads(
  files: CgroupFiles,
  table: CounterFiles,
  values: Record<string, unknown>,
  state: CounterState,
  problems: TrackerProblems,
): CounterReads {
  const read = (def: AnyCounterFile, ctx: ReadContext): WatchdogEvent[] => {
    const r = readsRarely(def, files) ? files.readOnce(def.controller, def.file) : files.read(def.controller, def.file);
    if (r === null || r.kind !== "ok") return [];
    const parsed = def.parse(r.text);
    if (parsed.kind === "malformed") {
      problems.report(def.file, parsed.reason);
      return [];
    }
    problems.parsedCleanly(def.file);
    const events = def.diff(values[def.key] ?? null, parsed.value, ctx, state);
    values[def.key] = parsed.value;
    return events;
  };
  return {
    read,
    sweep(ctx, out, only) {
      for (const def of table.all) {
        if (!table.hasFile(def, files.versionOf(def.controller)) || (only !== undefined && !only(def))) continue;
        for (const e of read(def, ctx)) out.push(e);
      }
    },
  };
}

/** Each counter file's value for a new tracker: zero for a cgroup created while watched (it has the file), else null (unread). */
export function initialCounterValues(
  files: CgroupFiles,
  table: CounterFiles,
  bornWatched: boolean,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const def of table.all)
    values[def.key] = bornWatched && table.hasFile(def, files.versionOf(def.controller)) ? def.zero : null;
  return values;
}
