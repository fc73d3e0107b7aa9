/**
 * Within one event's decision each control file is read once. The snapshot
 * for the policies reads a cgroup's limits, weights and usage; the executor
 * then reads the current value of the file it plans to write (memory.max,
 * cpu.max …) and the usage its guardrails compare with; after an applied
 * action the gauges' refresh reads the snapshot again: the same files up to
 * three times within a millisecond, each a one-shot open/fstat/read/close
 * once the kept-fd budget is spent (at 10k cgroups the tracker's own files
 * fill it). So the guardrails also check the values the policy decided on.
 *
 * While `during(fn)` runs, a file's first read is remembered by path and
 * served to the later readers of the same event, until cgwatch writes: a
 * write drops the file written and everything that is not a setting (usage,
 * counters, state: a lower limit makes the kernel reclaim), so the
 * read-back and the refresh read those from the kernel, and only the other
 * settings (files that only a write changes) are still served. Outside
 * `during` every read goes straight to the file.
 */
import { ACTION_REGISTRY, type WriteAllowList } from "../actions/kinds/index.js";
import { readFileAt, type FileRead } from "../cgroup/cgroupFiles.js";
import type { FileReader, ReadResult } from "../cgroup/read.js";

/** Writable files whose content the kernel also changes by itself: never served from memory. */
const LIVE_STATE: ReadonlySet<string> = new Set(["memory.oom_control", "freezer.state"]);

/** File names that only a write changes (still served after cgwatch writes another file): the guarded writer's allow-list less the files with live state. */
export function settingFiles(allow: WriteAllowList = ACTION_REGISTRY.writable): ReadonlySet<string> {
  const names = new Set([...Object.values(allow.byController).flat(), ...allow.v2Core]);
  for (const live of LIVE_STATE) names.delete(live);
  return names;
}

const baseName = (p: string): string => p.slice(p.lastIndexOf("/") + 1);

export interface EventReads {
  /** Runs one event's decision with the memory on; it is emptied when fn returns (or throws). */
  during<T>(fn: () => T): T;
  /** `reader` with the memory in front of it (for the snapshot and the gauges' refresh). */
  over(reader: FileReader): FileReader;
  /** The action edge's read by absolute path (current values, read-backs), with the memory in front of it. */
  readAt(path: string): FileRead;
  /** cgwatch wrote `path`: it and every remembered non-setting are read from the file again (the guarded writer's onWritten). */
  written(path: string): void;
}

export function createEventReads(settings: ReadonlySet<string> = settingFiles()): EventReads {
  const known = new Map<string, string>();
  let depth = 0;
  /** A remembered read, or `reader`'s (no closure per read: this runs for every file of a decision). */
  const through = (reader: FileReader, path: string, how: "read" | "once" | "in", dir = "", name = ""): ReadResult => {
    const text = known.get(path);
    if (text !== undefined) return { kind: "ok", text };
    const r =
      how === "read" ? reader.read(path) : how === "once" ? reader.readOnce(path) : reader.readOnceIn(dir, name);
    if (r.kind === "ok") known.set(path, r.text);
    return r;
  };
  return {
    during(fn) {
      depth++;
      try {
        return fn();
      } finally {
        if (--depth === 0) known.clear();
      }
    },
    over: (reader) => ({
      read: (path) => (depth === 0 ? reader.read(path) : through(reader, path, "read")),
      readOnce: (path) => (depth === 0 ? reader.readOnce(path) : through(reader, path, "once")),
      // (`dir` is normal and absolute: `${dir}/${name}` is the path the executor joins for the same file.)
      readOnceIn: (dir, name) =>
        depth === 0 ? reader.readOnceIn(dir, name) : through(reader, `${dir}/${name}`, "in", dir, name),
      forget: (path) => reader.forget(path),
      forgetDir: (dir) => reader.forgetDir(dir),
      close: () => reader.close(),
      get openCount() {
        return reader.openCount;
      },
    }),
    readAt(path) {
      const text = depth === 0 ? undefined : known.get(path);
      if (text !== undefined) return { kind: "ok", text };
      const r = readFileAt(path);
      if (r.kind === "ok" && depth > 0) known.set(path, r.text);
      return r;
    },
    written(path) {
      // By file name, whatever the directory's spelling: a write of memory.max drops every remembered memory.max.
      const name = baseName(path);
      for (const p of known.keys()) {
        const file = baseName(p);
        if (file === name || !settings.has(file)) known.delete(p);
      }
    },
  };
}
