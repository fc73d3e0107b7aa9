/**
 * The one way to read a cgroup's control files: locate the file in the
 * hierarchy that carries its controller, read it through the FileReader
 * (kept fds or one-shot, never throwing) and parse it with a shared parser
 * (cgroup/parse.ts). The tracker, the snapshot, the metrics publisher and
 * the action edge all read through here, so a file is found, read and parsed
 * the same way wherever it is read.
 *
 * Paths are cached per controller and file: the tracker re-reads the same
 * few files on every wake, and a cached path costs no string per read.
 */
import path from "node:path";
import type { CgroupLayout, CgroupVersion, Controller } from "./layout.js";
import type { Parsed } from "./parse.js";
import { cgroupDir } from "./paths.js";
import { readControlFile, type FileReader, type ReadResult } from "./read.js";

/**
 * `cached` reads through the reader's kept fds (counters on the event path,
 * where every microsecond is latency); `once` opens and closes, by directory
 * and name (periodic samples and metrics passes, which must not take the
 * budget of kept fds).
 */
export type ReadMode = "cached" | "once";

export interface CgroupFiles {
  readonly cgroup: string;
  /** The cgroup's directory in the hierarchy that carries `controller`, with that hierarchy's version, or null. */
  dirOf(controller: Controller): { readonly dir: string; readonly version: CgroupVersion } | null;
  /** Version of the hierarchy that carries `controller`, or null when none does. */
  readonly versionOf: (controller: Controller) => CgroupVersion | null;
  /** Absolute path of a control file, or null when no hierarchy carries its controller. */
  readonly pathOf: (controller: Controller, file: string) => string | null;
  /** The read as the reader returned it; null when no hierarchy carries the controller. */
  readonly read: (controller: Controller, file: string) => ReadResult | null;
  /** The file's text, or null when absent or unreadable. */
  readonly text: (controller: Controller, file: string) => string | null;
  /** The file parsed; null when absent or unreadable (a malformed file is a `malformed` value, for the caller to report). */
  parsed<T>(controller: Controller, file: string, parse: (text: string) => Parsed<T>): Parsed<T> | null;
  /** The parsed value, or null when absent, unreadable or malformed. */
  value<T>(controller: Controller, file: string, parse: (text: string) => Parsed<T>): T | null;
  /** The directories located so far (to release their kept fds when the cgroup goes). */
  readonly locatedDirs: () => string[];
}

type Located = { readonly dir: string; readonly version: CgroupVersion } | null;

export function cgroupFiles(
  layout: CgroupLayout,
  reader: FileReader,
  cgroup: string,
  mode: ReadMode = "cached",
): CgroupFiles {
  const dirs = new Map<Controller, Located>();
  const paths = new Map<Controller, Map<string, string>>();
  const dirOf = (c: Controller): Located => {
    let d = dirs.get(c);
    if (d === undefined) {
      const found = cgroupDir(layout, cgroup, c);
      d = found === null ? null : { dir: found.dir, version: found.location.version };
      dirs.set(c, d);
    }
    return d;
  };
  const pathOf = (c: Controller, file: string): string | null => {
    const d = dirOf(c);
    if (d === null) return null;
    let byFile = paths.get(c);
    if (byFile === undefined) {
      byFile = new Map();
      paths.set(c, byFile);
    }
    let p = byFile.get(file);
    if (p === undefined) {
      p = path.join(d.dir, file);
      byFile.set(file, p);
    }
    return p;
  };
  const read = (c: Controller, file: string): ReadResult | null => {
    if (mode === "once") {
      // A pass reads each file of the cgroup once: no path to build and keep for it.
      const d = dirOf(c);
      return d === null ? null : reader.readOnceIn(d.dir, file);
    }
    const p = pathOf(c, file);
    return p === null ? null : reader.read(p);
  };
  return {
    cgroup,
    dirOf,
    versionOf: (c) => dirOf(c)?.version ?? null,
    pathOf,
    ...readsOver(read),
    locatedDirs: () => [...dirs.values()].flatMap((d) => (d === null ? [] : [d.dir])),
  };
}

/**
 * The same files, each read at most once: for one metrics pass over a
 * cgroup, where the snapshot and the publisher want some files alike
 * (cpu.stat, memory.events) and a second read would cost a second open.
 */
export function readEachOnce(files: CgroupFiles): CgroupFiles {
  // By controller, then file: no key string per read.
  const seen = new Map<Controller, Map<string, ReadResult | null>>();
  const read = (c: Controller, file: string): ReadResult | null => {
    let byFile = seen.get(c);
    if (byFile === undefined) {
      byFile = new Map();
      seen.set(c, byFile);
    }
    let r = byFile.get(file);
    if (r === undefined) {
      r = files.read(c, file);
      byFile.set(file, r);
    }
    return r;
  };
  return { ...files, ...readsOver(read) };
}

/** `text`, `parsed` and `value` over one way of reading, so every view of the files parses alike. */
function readsOver(read: CgroupFiles["read"]): Pick<CgroupFiles, "read" | "text" | "parsed" | "value"> {
  const text = (c: Controller, file: string): string | null => {
    const r = read(c, file);
    return r?.kind === "ok" ? r.text : null;
  };
  const parsed = <T>(c: Controller, file: string, parse: (text: string) => Parsed<T>): Parsed<T> | null => {
    const t = text(c, file);
    return t === null ? null : parse(t);
  };
  return {
    read,
    text,
    parsed,
    value(c, file, parse) {
      const p = parsed(c, file, parse);
      return p?.kind === "ok" ? p.value : null;
    },
  };
}

/** A control file read by absolute path, one-shot, as the action edge reads current values and read-backs. */
export type FileRead =
  | { readonly kind: "ok"; readonly text: string }
  | { readonly kind: "absent" }
  | { readonly kind: "error"; readonly errno: string };

/** Reads a control file the way the watch path does: never blocks, regular files only (a FIFO or symlink is an EREFUSED error). */
export function readFileAt(p: string): FileRead {
  const r = readControlFile(p);
  switch (r.kind) {
    case "ok":
      return r;
    case "gone":
      return { kind: "absent" };
    case "unsafe":
      return { kind: "error", errno: "EREFUSED" };
    case "error":
      return { kind: "error", errno: r.errno };
  }
}
