/**
 * Settings read while one event is decided are read once. The snapshot for
 * the policies reads a cgroup's limits and weights; the executor then reads
 * the current value of the file it plans to write (memory.max, cpu.max …),
 * and after an applied action the gauges' refresh reads the snapshot again:
 * the same settings up to three times within a millisecond, each a one-shot
 * open/fstat/read/close once the kept-fd budget is spent (10k cgroups).
 *
 * While `during(fn)` runs, a setting's first read is remembered by path and
 * served to the later readers of the same event. Only settings (files that
 * cgwatch may write: only a write changes them) are remembered, never a
 * counter, usage or pressure file, and cgwatch's own write of a setting
 * drops it (`written`), so the read-back and the refresh read the new value
 * from the kernel. Outside `during` every read goes straight to the file.
 */
import { ACTION_REGISTRY, type WriteAllowList } from "../actions/kinds/index.js";
import { readFileAt, type FileRead } from "../cgroup/cgroupFiles.js";
import type { FileReader, ReadResult } from "../cgroup/read.js";

/** Writable files whose content the kernel also changes by itself: never served from memory. */
const LIVE_STATE: ReadonlySet<string> = new Set(["memory.oom_control", "freezer.state"]);

/** File names that only a write changes: the guarded writer's allow-list less the files with live state. */
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
  /** cgwatch wrote `path`: its next read goes to the file (the guarded writer's onWritten). */
  written(path: string): void;
}

export function createEventReads(settings: ReadonlySet<string> = settingFiles()): EventReads {
  const known = new Map<string, string>();
  let depth = 0;
  const remember = (path: string, text: string): void => {
    if (settings.has(baseName(path))) known.set(path, text);
  };
  const through = (reader: FileReader, path: string, once: boolean): ReadResult => {
    const text = known.get(path);
    if (text !== undefined) return { kind: "ok", text };
    const r = once ? reader.readOnce(path) : reader.read(path);
    if (r.kind === "ok") remember(path, r.text);
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
      read: (path) => (depth === 0 ? reader.read(path) : through(reader, path, false)),
      readOnce: (path) => (depth === 0 ? reader.readOnce(path) : through(reader, path, true)),
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
      if (r.kind === "ok" && depth > 0) remember(path, r.text);
      return r;
    },
    written(path) {
      // By file name, whatever the directory's spelling: a write of memory.max drops every remembered memory.max.
      const name = baseName(path);
      for (const p of known.keys()) if (baseName(p) === name) known.delete(p);
    },
  };
}
