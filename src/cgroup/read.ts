/**
 * Reading control files. A re-read of a kernfs file through a kept-open fd
 * with pread at offset 0 regenerates its content and costs one syscall
 * (measured here: 2.0 µs vs 16.3 µs for readFileSync's open+fstat+read+close
 * on memory.usage_in_bytes). Descriptors are kept up to a budget, because
 * RLIMIT_NOFILE (20000 here) cannot hold every file of 10k cgroups. Past the
 * budget a file is read one-shot instead of evicting a kept one: sweeps
 * visit the files in a cycle, and an LRU over a cycle longer than its
 * capacity evicts every entry just before it is needed again (measured: a
 * 10k-cgroup sweep through a 10k-fd LRU cost 325 ms against 170 ms for plain
 * reads). Kept fds are released when their cgroup goes (forgetPrefix).
 *
 * A read never throws: a vanished cgroup (ENOENT, or ENODEV on an fd whose
 * cgroup was removed) is `gone`, anything else an `error` with the errno.
 *
 * A read never blocks the event loop on a tree that is not kernfs: every
 * open is O_NONBLOCK|O_NOFOLLOW and must fstat as a regular file (safeOpen.ts),
 * so a FIFO, socket, directory, device or symlink at a watched path comes
 * back `unsafe` (reported, not read). A kept fd goes on reading its inode
 * after the path is replaced (deleted, renamed over, turned into a directory
 * or a symlink), which kernfs never does but other trees do: every
 * `revalidateMs` a kept path is lstat'ed and a changed dev/ino (or type)
 * closes the fd, reports `replaced` and opens the path afresh.
 *
 * One-shot reads go through the addon when it is loaded (nativeRead.ts: one
 * call per file, same safety rules), else through Node's fs.
 */
import fs from "node:fs";
import { errnoOf } from "./errno.js";
import { DirectoryReads, joinPlain, nativeReads, readAtPath, type NativeReads } from "./nativeRead.js";
import { openRegular, type SafeOpenResult, type UnsafeReason } from "./safeOpen.js";

export type ReadResult =
  | { readonly kind: "ok"; readonly text: string }
  | { readonly kind: "gone" }
  | { readonly kind: "unsafe"; readonly reason: UnsafeReason; readonly message: string }
  | { readonly kind: "error"; readonly errno: string; readonly message: string };

/** What the reader found wrong with a path: a wrong file type, or a kept fd whose path now names another inode. */
export type ReadProblemReason = UnsafeReason | "replaced";

/** Observers of read problems: the problem log reports each once when it starts and once when it clears. */
export interface ReaderHooks {
  onProblem?(path: string, reason: ReadProblemReason, message: string): void;
  /** A path that had a problem was read successfully again. */
  onCleared?(path: string): void;
}

export interface FileReaderOptions {
  /** Most kept fds (default: defaultFdBudget()). */
  readonly maxOpen?: number;
  /** How often a kept fd's path is lstat'ed for a replaced inode (ms; default 10 s). */
  readonly revalidateMs?: number;
  readonly now?: () => number;
  readonly hooks?: ReaderHooks;
  /** The addon's one-shot reads (default: when loaded); null reads through Node's fs. */
  readonly native?: NativeReads | null;
}

const GONE_ERRNOS = new Set(["ENOENT", "ENODEV", "ESTALE", "ENOTDIR"]);

function failure(err: unknown, path: string): ReadResult {
  const errno = errnoOf(err);
  if (GONE_ERRNOS.has(errno)) return { kind: "gone" };
  return { kind: "error", errno, message: `read ${path}: ${errno}` };
}

function notOpened(r: Exclude<SafeOpenResult, { kind: "ok" }>): ReadResult {
  if (r.kind === "unsafe") return r;
  return GONE_ERRNOS.has(r.errno) ? { kind: "gone" } : { kind: "error", errno: r.errno, message: r.message };
}

/** Control files are small (memory.stat is the largest, ~1.5 KiB); 64 KiB covers any with room. */
const BUFFER_BYTES = 64 * 1024;

/**
 * Reads from offset 0 to EOF (or BUFFER_BYTES: larger than any control file,
 * truncated rather than unbounded). A short read is the end: kernfs
 * (seq_file) returns the whole file in one read when the buffer holds it (and
 * a virtual file must be read in one go to be consistent), and a regular
 * file's short read is its EOF; so one pread per read, not a second for the 0.
 */
function readAll(fd: number, buf: Buffer): string {
  let total = 0;
  while (total < BUFFER_BYTES) {
    const want = BUFFER_BYTES - total;
    const n = fs.readSync(fd, buf, total, want, total);
    total += n;
    if (n < want) break;
  }
  return buf.toString("utf8", 0, total);
}

/** One read through a fresh non-blocking, no-follow, regular-files-only open. */
function readOnceInto(path: string, buf: Buffer): ReadResult {
  const opened = openRegular(path, fs.constants.O_RDONLY);
  if (opened.kind !== "ok") return notOpened(opened);
  try {
    return { kind: "ok", text: readAll(opened.fd, buf) };
  } catch (err) {
    return failure(err, path);
  } finally {
    fs.closeSync(opened.fd);
  }
}

/** Shared by every one-shot read: reads are synchronous, so one buffer serves them all. */
const oneShotBuffer = Buffer.allocUnsafe(BUFFER_BYTES);
let sharedNative: NativeReads | null | undefined;

/** One-shot read (open, read, close) of a control file, with the reader's safety: never blocks, regular files only. */
export function readControlFile(path: string): ReadResult {
  sharedNative ??= nativeReads();
  return sharedNative === null ? readOnceInto(path, oneShotBuffer) : readAtPath(sharedNative, path, oneShotBuffer);
}

export interface FileReader {
  /** Through a kept fd (pread at 0): for files re-read often (counters on the event path). */
  read(path: string): ReadResult;
  /**
   * Open, read, close, keeping no fd: for files read once per long interval
   * (settings published as metrics, snapshots), which would otherwise take
   * the budget from the hot descriptors. A file the event path already keeps
   * is read through its fd.
   */
  readOnce(path: string): ReadResult;
  /** readOnce of `dir`/`name` (`dir` normal and absolute, `name` a plain file name), without building the path when it can. */
  readOnceIn(dir: string, name: string): ReadResult;
  /** Closes a path's fd (e.g. when its cgroup is removed). */
  forget(path: string): void;
  /** Closes the fds of every file directly in `dir` (a removed cgroup's directory). */
  forgetDir(dir: string): void;
  close(): void;
  readonly openCount: number;
}

/**
 * How many fds the reader may keep: half the soft RLIMIT_NOFILE (the rest is
 * for inotify, eventfds, PSI triggers, sockets), between 256 and 65536.
 */
export function defaultFdBudget(limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = fs.readFileSync("/proc/self/limits", "utf8");
    } catch {
      return 4096;
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (m === null) return 4096;
  const soft = m[1] === "unlimited" ? Infinity : Number(m[1]);
  return Math.max(256, Math.min(65536, Math.floor(soft / 2)));
}

interface Kept {
  readonly fd: number;
  readonly dev: number;
  readonly ino: number;
  /** When the path was last lstat'ed against this fd's inode (ms). */
  checkedAt: number;
}

const dirOf = (p: string): string => p.slice(0, Math.max(0, p.lastIndexOf("/")));

/** The kept fds, by path and by directory (so releasing one cgroup costs its own files, not all of them). */
class KeptFds {
  private readonly fds = new Map<string, Kept>();
  private readonly byDir = new Map<string, Set<string>>();

  get size(): number {
    return this.fds.size;
  }

  get(path: string): Kept | undefined {
    return this.fds.get(path);
  }

  hasDir(dir: string): boolean {
    return this.byDir.has(dir);
  }

  keep(path: string, opened: Extract<SafeOpenResult, { kind: "ok" }>, at: number): Kept {
    const kept: Kept = { fd: opened.fd, dev: opened.dev, ino: opened.ino, checkedAt: at };
    this.fds.set(path, kept);
    const d = dirOf(path);
    let set = this.byDir.get(d);
    if (set === undefined) {
      set = new Set();
      this.byDir.set(d, set);
    }
    set.add(path);
    return kept;
  }

  close(path: string): void {
    const kept = this.fds.get(path);
    if (kept === undefined) return;
    this.fds.delete(path);
    const siblings = this.byDir.get(dirOf(path));
    siblings?.delete(path);
    if (siblings?.size === 0) this.byDir.delete(dirOf(path));
    try {
      fs.closeSync(kept.fd);
    } catch {
      /* already invalid: nothing to release */
    }
  }

  closeDir(dir: string): void {
    const kept = this.byDir.get(dir);
    if (kept !== undefined) for (const p of [...kept]) this.close(p);
  }

  closeAll(): void {
    for (const p of [...this.fds.keys()]) this.close(p);
  }
}

/** Read problems: each reported when it starts and cleared once by the next good read of its path. */
class ReadProblems {
  /** Paths with a reported read problem, so the next good read clears it (once). */
  private readonly troubled = new Set<string>();

  constructor(private readonly hooks: ReaderHooks) {}

  problem(path: string, reason: ReadProblemReason, message: string): void {
    this.troubled.add(path);
    this.hooks.onProblem?.(path, reason, message);
  }

  /** Whether any path has a problem to clear. */
  get any(): boolean {
    return this.troubled.size > 0;
  }

  /** Reports an unsafe result and passes any result through; clears a past problem on success. */
  observed(path: string, r: ReadResult): ReadResult {
    if (r.kind === "unsafe") this.problem(path, r.reason, r.message);
    else if (r.kind === "ok" && this.troubled.size > 0 && this.troubled.delete(path)) this.hooks.onCleared?.(path);
    return r;
  }

  /** A removed cgroup's problems end with it. */
  clearDir(dir: string): void {
    for (const p of this.troubled) {
      if (dirOf(p) !== dir) continue;
      this.troubled.delete(p);
      this.hooks.onCleared?.(p);
    }
  }
}

export function createFileReader(options: number | FileReaderOptions = {}): FileReader {
  const opts: FileReaderOptions = typeof options === "number" ? { maxOpen: options } : options;
  const maxOpen = opts.maxOpen ?? defaultFdBudget();
  const revalidateMs = opts.revalidateMs ?? 10_000;
  const now = opts.now ?? (() => performance.now());
  const fds = new KeptFds();
  const problems = new ReadProblems(opts.hooks ?? {});
  const buf = Buffer.allocUnsafe(BUFFER_BYTES);
  const native = opts.native === undefined ? nativeReads() : opts.native;
  const dirReads = native === null ? null : new DirectoryReads(native);

  /**
   * Whether a kept fd still reads what `path` names: lstat and compare. A
   * vanished path drops the fd quietly (a removed cgroup is not a problem);
   * another inode is reported as `replaced`, another type by the re-open.
   */
  const stillCurrent = (path: string, kept: Kept): boolean => {
    kept.checkedAt = now();
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(path, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (st !== undefined && st.isFile() && st.dev === kept.dev && st.ino === kept.ino) return true;
    fds.close(path);
    // Another regular file: `replaced` (the re-open reads it). Anything else:
    // the re-open reports its type.
    if (st?.isFile() === true)
      problems.problem(path, "replaced", `${path} was replaced (another inode than the kept fd's); re-opened`);
    return false;
  };

  /** A pass's read: its files come a directory at a time, so they are read relative to it. */
  const readOnce = (path: string): ReadResult =>
    problems.observed(path, dirReads === null ? readOnceInto(path, buf) : dirReads.read(path, buf));
  /** A read past the fd budget: one file of its directory, by path. */
  const readUnkept = (path: string): ReadResult =>
    problems.observed(path, native === null ? readOnceInto(path, buf) : readAtPath(native, path, buf));

  /** A read through a fresh open whose fd is kept (within the budget). */
  const openAndKeep = (path: string): ReadResult => {
    if (fds.size >= maxOpen) return readUnkept(path);
    const opened = openRegular(path, fs.constants.O_RDONLY);
    if (opened.kind !== "ok") return problems.observed(path, notOpened(opened));
    fds.keep(path, opened, now());
    try {
      return problems.observed(path, { kind: "ok", text: readAll(opened.fd, buf) });
    } catch (err) {
      fds.close(path);
      return failure(err, path);
    }
  };

  /** Through the path's kept fd, if it has a current one; null: open it afresh. */
  const readKept = (path: string): ReadResult | null => {
    const kept = fds.get(path);
    if (kept !== undefined && (now() - kept.checkedAt < revalidateMs || stillCurrent(path, kept))) {
      try {
        return problems.observed(path, { kind: "ok", text: readAll(kept.fd, buf) });
      } catch (err) {
        fds.close(path);
        // ENODEV: the cgroup behind the fd was removed. Retry once through a
        // fresh open in case the path was recreated (same name, new cgroup).
        if (!GONE_ERRNOS.has(errnoOf(err))) return failure(err, path);
      }
    }
    return null;
  };

  return {
    read: (path) => readKept(path) ?? openAndKeep(path),
    // A file the event path keeps open is read through its fd (one syscall): that keeps nothing new.
    readOnce: (path) => (fds.size === 0 ? null : readKept(path)) ?? readOnce(path),
    readOnceIn(dir, name) {
      if (dirReads === null || problems.any || fds.hasDir(dir)) {
        const path = joinPlain(dir, name);
        return readKept(path) ?? readOnce(path);
      }
      const r = dirReads.readIn(dir, name, buf);
      return r.kind === "unsafe" ? problems.observed(joinPlain(dir, name), r) : r;
    },
    forget: (path) => fds.close(path),
    forgetDir(dir) {
      const d = dir.endsWith("/") ? dir.slice(0, -1) : dir;
      fds.closeDir(d);
      problems.clearDir(d);
    },
    close() {
      fds.closeAll();
      dirReads?.release();
    },
    get openCount() {
      return fds.size;
    },
  };
}
