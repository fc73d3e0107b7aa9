/**
 * One-shot reads through the addon (src/native/cgwatch_native.cc `readAt`):
 * open, fstat, read and close in one call that allocates nothing and never
 * throws. The periodic passes read ~20 files of every cgroup one-shot; in
 * Node's fs that is four calls per file, a Stats object per fstat and an
 * Error per absent file (measured here: ~6 µs per file and ~10 µs per absent
 * one, against ~4 and ~3.4 µs for the bare syscalls). Files read in a run
 * from one directory are opened relative to its fd (openat: no walk of the
 * whole path per file).
 *
 * The safety rules are safeOpen.ts's, applied in C: O_NOFOLLOW|O_NONBLOCK
 * and "regular file" per fstat before anything is read. Results are the
 * reader's ReadResult, with the same reasons and messages.
 */
import fs from "node:fs";
import util from "node:util";
import { loadNative } from "../native/index.js";
import type { ReadResult } from "./read.js";
import { describeKind, kindOf, type UnsafeReason } from "./safeOpen.js";

export interface NativeReads {
  readonly openDir: (path: string) => number;
  readonly readAt: (dirfd: number, name: string, buffer: Buffer) => number;
  readonly closeFd: (fd: number) => void;
}

/** The addon's one-shot reads, or null when the addon is unavailable or predates them (Node's fs reads then). */
export function nativeReads(): NativeReads | null {
  const load = loadNative();
  if (load.kind !== "loaded") return null;
  const { openDir, readAt, closeFd } = load.native;
  return openDir === undefined || readAt === undefined ? null : { openDir, readAt, closeFd };
}

const AT_FDCWD = -100;
/** readAt's "not a regular file" results: -(NOT_REGULAR + (st_mode & S_IFMT) >> 12). */
const NOT_REGULAR = 4096;
const GONE_ERRNOS = new Set(["ENOENT", "ENODEV", "ESTALE", "ENOTDIR"]);

/** The S_IFMT type bits (st_mode >> 12) of anything but a regular file. */
function typeReason(bits: number): UnsafeReason {
  switch (bits) {
    case 0o01:
      return "fifo";
    case 0o02:
      return "char_device";
    case 0o04:
      return "directory";
    case 0o06:
      return "block_device";
    case 0o12:
      return "symlink";
    case 0o14:
      return "socket";
    default:
      return "unknown";
  }
}

const unsafe = (p: string, reason: UnsafeReason): ReadResult => ({
  kind: "unsafe",
  reason,
  message: `${p} is a ${describeKind(reason)}, not a control file`,
});

/** `dir`/`name` for a normal absolute `dir` and a plain name: one concatenation. */
export const joinPlain = (dir: string, name: string): string => (dir === "/" ? `/${name}` : `${dir}/${name}`);

/** readAt's result for `dir`/`name` as a ReadResult; bytes are in `buf`. The path is built only for a failure. */
function resultOf(n: number, dir: string, name: string, buf: Buffer): ReadResult {
  if (n >= 0) return { kind: "ok", text: buf.toString("utf8", 0, n) };
  return failureOf(n, dir === "" ? name : joinPlain(dir, name));
}

function failureOf(n: number, p: string): ReadResult {
  if (n <= -NOT_REGULAR) return unsafe(p, typeReason(-n - NOT_REGULAR));
  const errno = util.getSystemErrorName(n);
  if (errno === "ELOOP") return unsafe(p, "symlink"); // O_NOFOLLOW on a symlink
  if (errno === "ENXIO") {
    // A unix socket cannot be opened: say what is there, as safeOpen.ts does.
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (st !== undefined && kindOf(st) !== "file") return unsafe(p, kindOf(st) as UnsafeReason);
  }
  if (GONE_ERRNOS.has(errno)) return { kind: "gone" };
  return { kind: "error", errno, message: `read ${p}: ${errno}` };
}

/** A one-shot read of an absolute path. */
export function readAtPath(native: NativeReads, p: string, buf: Buffer): ReadResult {
  return resultOf(native.readAt(AT_FDCWD, p, buf), "", p, buf);
}

/**
 * One-shot reads that reuse the directory of the previous read: the second
 * read in a row from one directory opens it (O_PATH), and the following ones
 * are openat's relative to it. The fd lasts until the reads move to another
 * directory or the event loop turns (a pass's slice), so a directory renamed
 * or replaced meanwhile is not read past that slice, and one fd at most is held.
 */
export class DirectoryReads {
  private lastDir: string | null = null;
  private dirFd = -1;
  private closing: NodeJS.Immediate | null = null;

  constructor(private readonly native: NativeReads) {}

  read(p: string, buf: Buffer): ReadResult {
    const slash = p.lastIndexOf("/");
    if (slash <= 0) return readAtPath(this.native, p, buf);
    return this.readIn(p.slice(0, slash), p.slice(slash + 1), buf);
  }

  /** `name` in `dir` (a normal absolute path, as cgroupDir gives it). */
  readIn(dir: string, name: string, buf: Buffer): ReadResult {
    if (dir !== this.lastDir) {
      this.release();
      this.lastDir = dir;
      return readAtPath(this.native, joinPlain(dir, name), buf);
    }
    if (this.dirFd < 0 && !this.open(dir)) return readAtPath(this.native, joinPlain(dir, name), buf);
    return resultOf(this.native.readAt(this.dirFd, name, buf), dir, name, buf);
  }

  private open(dir: string): boolean {
    const fd = this.native.openDir(dir);
    if (fd < 0) {
      this.lastDir = null; // vanished or not a directory: full-path reads say which
      return false;
    }
    this.dirFd = fd;
    this.closing ??= setImmediate(() => {
      this.closing = null;
      this.release();
    });
    return true;
  }

  /** Closes the directory fd, if one is open. */
  release(): void {
    if (this.dirFd >= 0) this.native.closeFd(this.dirFd);
    this.dirFd = -1;
    this.lastDir = null;
  }
}
