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
  versionOf(controller: Controller): CgroupVersion | null;
  /** Absolute path of a control file, or null when no hierarchy carries its controller. */
  pathOf(controller: Controller, file: string): string | null;
  /** The read as the reader returned it; null when no hierarchy carries the controller. */
  read(controller: Controller, file: string): ReadResult | null;
  /**
   * One-shot whatever the mode, keeping no fd: for a file this view reads
   * rarely (a setting, a file whose wakes are rare), so the budget of kept fds
   * goes to the files the event path re-reads on every wake.
   */
  readOnce(controller: Controller, file: string): ReadResult | null;
  /** The file's text, or null when absent or unreadable. */
  text(controller: Controller, file: string): string | null;
  /** The file parsed; null when absent or unreadable (a malformed file is a `malformed` value, for the caller to report). */
  parsed<T>(controller: Controller, file: string, parse: (text: string) => Parsed<T>): Parsed<T> | null;
  /** The parsed value, or null when absent, unreadable or malformed. */
  value<T>(controller: Controller, file: string, parse: (text: string) => Parsed<T>): T | null;
  /** The directories located so far (to release their kept fds when the cgroup goes). */
  locatedDirs(): string[];
}

type Located = { readonly dir: string; readonly version: CgroupVersion } | null;

/**
 * `text`, `parsed` and `value` over one way of reading (`read`), so every
 * view of the files parses alike. A class, not closures: one is kept per
 * watched cgroup, and methods on the prototype cost a cgroup nothing.
 */
abstract class ReadsOver {
  abstract read(controller: Controller, file: string): ReadResult | null;

  text(c: Controller, file: string): string | null {
    const r = this.read(c, file);
    return r?.kind === "ok" ? r.text : null;
  }

  parsed<T>(c: Controller, file: string, parse: (text: string) => Parsed<T>): Parsed<T> | null {
    const t = this.text(c, file);
    return t === null ? null : parse(t);
  }

  value<T>(c: Controller, file: string, parse: (text: string) => Parsed<T>): T | null {
    const p = this.parsed(c, file, parse);
    return p?.kind === "ok" ? p.value : null;
  }
}

class Files extends ReadsOver implements CgroupFiles {
  private readonly dirs = new Map<Controller, Located>();
  private paths: Map<Controller, Map<string, string>> | null = null;

  constructor(
    private readonly layout: CgroupLayout,
    private readonly reader: FileReader,
    readonly cgroup: string,
    private readonly mode: ReadMode,
  ) {
    super();
  }

  dirOf(c: Controller): Located {
    let d = this.dirs.get(c);
    if (d === undefined) {
      const found = cgroupDir(this.layout, this.cgroup, c);
      d = found === null ? null : { dir: found.dir, version: found.location.version };
      this.dirs.set(c, d);
    }
    return d;
  }

  versionOf(c: Controller): CgroupVersion | null {
    return this.dirOf(c)?.version ?? null;
  }

  pathOf(c: Controller, file: string): string | null {
    const d = this.dirOf(c);
    if (d === null) return null;
    this.paths ??= new Map();
    let byFile = this.paths.get(c);
    if (byFile === undefined) {
      byFile = new Map();
      this.paths.set(c, byFile);
    }
    let p = byFile.get(file);
    if (p === undefined) {
      p = path.join(d.dir, file);
      byFile.set(file, p);
    }
    return p;
  }

  read(c: Controller, file: string): ReadResult | null {
    if (this.mode === "once") return this.readOnce(c, file);
    const p = this.pathOf(c, file);
    return p === null ? null : this.reader.read(p);
  }

  readOnce(c: Controller, file: string): ReadResult | null {
    // No path to build and keep for it.
    const d = this.dirOf(c);
    return d === null ? null : this.reader.readOnceIn(d.dir, file);
  }

  locatedDirs(): string[] {
    return [...this.dirs.values()].flatMap((d) => (d === null ? [] : [d.dir]));
  }
}

export function cgroupFiles(
  layout: CgroupLayout,
  reader: FileReader,
  cgroup: string,
  mode: ReadMode = "cached",
): CgroupFiles {
  return new Files(layout, reader, cgroup, mode);
}

/** The same files, each read at most once (see readEachOnce). */
class EachOnce extends ReadsOver implements CgroupFiles {
  // By controller, then file: no key string per read.
  private readonly seen = new Map<Controller, Map<string, ReadResult | null>>();

  constructor(private readonly files: CgroupFiles) {
    super();
  }

  get cgroup(): string {
    return this.files.cgroup;
  }

  dirOf(c: Controller): Located {
    return this.files.dirOf(c);
  }

  versionOf(c: Controller): CgroupVersion | null {
    return this.files.versionOf(c);
  }

  pathOf(c: Controller, file: string): string | null {
    return this.files.pathOf(c, file);
  }

  read(c: Controller, file: string): ReadResult | null {
    let byFile = this.seen.get(c);
    if (byFile === undefined) {
      byFile = new Map();
      this.seen.set(c, byFile);
    }
    let r = byFile.get(file);
    if (r === undefined) {
      r = this.files.read(c, file);
      byFile.set(file, r);
    }
    return r;
  }

  readOnce(c: Controller, file: string): ReadResult | null {
    return this.read(c, file);
  }

  locatedDirs(): string[] {
    return this.files.locatedDirs();
  }
}

/**
 * The same files, each read at most once: for one metrics pass over a
 * cgroup, where the snapshot and the publisher want some files alike
 * (cpu.stat, memory.events) and a second read would cost a second open.
 */
export function readEachOnce(files: CgroupFiles): CgroupFiles {
  return new EachOnce(files);
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
