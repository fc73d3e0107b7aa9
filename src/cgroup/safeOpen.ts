/**
 * Opening control files safely on a tree that may not be kernfs. Kernfs has
 * no symlinks, FIFOs or sockets and its files are regular files, but cgwatch
 * also runs on bind-mounted, fake or hostile trees (tests, containers,
 * a broken host), where:
 *  - a symlink at a file or at any directory component can point a write
 *    outside the root (runc guards its writers with securejoin / openat2
 *    RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS for exactly this),
 *  - opening a FIFO blocks the event loop until a writer appears, and a
 *    directory, socket or device is not a control file at all.
 *
 * Node has no openat2, so the equivalent is built from what it has: every
 * directory component below the root is lstat'ed and must be a real
 * directory, the file is opened with O_NOFOLLOW|O_NONBLOCK (a symlink fails
 * with ELOOP, a FIFO or socket cannot block), fstat must say "regular file",
 * and for writes the kernel's own name for the opened fd
 * (/proc/self/fd/N) must still lie under the root's real path, which closes
 * the race where a checked component is swapped for a symlink before open.
 * A write truncates only after all of that (ftruncate, not O_TRUNC), so a
 * file reached through a swapped component is never emptied.
 */
import fs from "node:fs";
import path from "node:path";
import { errnoOf } from "./errno.js";

/** What is at a path, as lstat/fstat says. */
export type FileKind =
  "file" | "directory" | "symlink" | "fifo" | "socket" | "char_device" | "block_device" | "unknown";

export function kindOf(st: fs.Stats): FileKind {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "char_device";
  if (st.isBlockDevice()) return "block_device";
  return "unknown";
}

/**
 * Why a path was refused. The file-kind reasons say what was found where a
 * regular file (or, for a component, a directory) was expected.
 */
export type UnsafeReason = Exclude<FileKind, "file"> | "not_directory" | "outside_root" | "bad_name";

export type SafeOpenResult =
  | { readonly kind: "ok"; readonly fd: number; readonly dev: number; readonly ino: number; readonly size: number }
  | { readonly kind: "unsafe"; readonly reason: UnsafeReason; readonly message: string }
  | { readonly kind: "error"; readonly errno: string; readonly message: string };

/** The errno name → what it means for a path opened with O_NOFOLLOW|O_NONBLOCK, when it means "not a control file". */
function unsafeFromErrno(errno: string, p: string): UnsafeReason | null {
  switch (errno) {
    case "ELOOP":
      return "symlink"; // O_NOFOLLOW on a symlink
    case "EISDIR":
      return "directory"; // O_WRONLY on a directory
    case "ENXIO": {
      // O_WRONLY|O_NONBLOCK on a FIFO without a reader, or any open of a unix socket.
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      return st === undefined ? null : kindOf(st) === "file" ? null : (kindOf(st) as UnsafeReason);
    }
    default:
      return null;
  }
}

const O_NOFOLLOW = fs.constants.O_NOFOLLOW;
const O_NONBLOCK = fs.constants.O_NONBLOCK;

/**
 * Opens `p` (its last component only is checked: reads trust the directory
 * the caller located) without following a symlink and without blocking;
 * anything but a regular file is closed again and reported.
 */
export function openRegular(p: string, flags: number): SafeOpenResult {
  let fd: number;
  try {
    fd = fs.openSync(p, flags | O_NOFOLLOW | O_NONBLOCK /* libuv adds O_CLOEXEC */);
  } catch (err) {
    const errno = errnoOf(err);
    const unsafe = unsafeFromErrno(errno, p);
    if (unsafe !== null)
      return { kind: "unsafe", reason: unsafe, message: `${p} is a ${describeKind(unsafe)}, not a control file` };
    return { kind: "error", errno, message: `open ${p}: ${errno}` };
  }
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    const errno = errnoOf(err);
    return { kind: "error", errno, message: `fstat ${p}: ${errno}` };
  }
  const k = kindOf(st);
  if (k !== "file") {
    fs.closeSync(fd);
    return { kind: "unsafe", reason: k, message: `${p} is a ${describeKind(k)}, not a control file` };
  }
  return { kind: "ok", fd, dev: st.dev, ino: st.ino, size: st.size };
}

export function describeKind(reason: UnsafeReason): string {
  switch (reason) {
    case "directory":
      return "directory";
    case "symlink":
      return "symlink";
    case "fifo":
      return "FIFO";
    case "socket":
      return "socket";
    case "char_device":
      return "character device";
    case "block_device":
      return "block device";
    case "unknown":
      return "file of unknown type";
    case "not_directory":
      return "non-directory where a directory was expected";
    case "outside_root":
      return "path outside the root";
    case "bad_name":
      return "invalid name";
  }
}

/** A single path component: no separator, no NUL, not empty, "." or "..". */
export function isPlainName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/") && !name.includes("\0");
}

function isUnder(child: string, root: string): boolean {
  return root === "/" ? child.startsWith("/") : child.startsWith(`${root}/`);
}

/** path.join(dir, name) for an absolute normal `dir` (a realpath or below) and a plain name: one concatenation, no re-normalising. */
const joinPlain = (dir: string, name: string): string => (dir === "/" ? `/${name}` : `${dir}/${name}`);

/**
 * Opens `root/components...` for writing, beneath `root` only: no component
 * may be a symlink or anything but a directory, the file must be a regular
 * file, and the opened fd's real path must lie under root's real path.
 * Nothing is created and nothing is truncated here.
 */
export function openBeneathForWrite(root: string, components: readonly string[]): SafeOpenResult {
  if (components.length === 0 || !components.every(isPlainName)) {
    const where = path.join(root, ...components.map((c) => c.replace(/\0/g, "\\0")));
    return {
      kind: "unsafe",
      reason: "bad_name",
      message: `${JSON.stringify(where)} has an empty, ".", ".." or NUL component`,
    };
  }
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch (err) {
    const errno = errnoOf(err);
    return { kind: "error", errno, message: `root ${root}: ${errno}` };
  }
  let dir = realRoot;
  for (let i = 0; i < components.length - 1; i++) {
    dir = joinPlain(dir, components[i] ?? "");
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(dir, { throwIfNoEntry: false });
    } catch (err) {
      const errno = errnoOf(err);
      return { kind: "error", errno, message: `lstat ${dir}: ${errno}` };
    }
    if (st === undefined) return { kind: "error", errno: "ENOENT", message: `${dir}: ENOENT` };
    const k = kindOf(st);
    if (k === "symlink")
      return {
        kind: "unsafe",
        reason: "symlink",
        message: `${dir} is a symlink; refusing to follow it out of ${root}`,
      };
    if (k !== "directory")
      return {
        kind: "unsafe",
        reason: "not_directory",
        message: `${dir} is a ${k === "file" ? "regular file" : describeKind(k)}, not a cgroup directory`,
      };
  }
  const file = joinPlain(dir, components[components.length - 1] ?? "");
  const opened = openRegular(file, fs.constants.O_WRONLY);
  if (opened.kind !== "ok") return opened;
  let real: string;
  try {
    real = fs.readlinkSync(`/proc/self/fd/${opened.fd}`);
  } catch (err) {
    fs.closeSync(opened.fd);
    // Without /proc the race check cannot be made: fail closed.
    return {
      kind: "unsafe",
      reason: "outside_root",
      message: `cannot verify where ${file} resolved (/proc/self/fd: ${errnoOf(err)})`,
    };
  }
  if (!isUnder(real, realRoot)) {
    fs.closeSync(opened.fd);
    return { kind: "unsafe", reason: "outside_root", message: `${file} resolved to ${real}, outside ${realRoot}` };
  }
  return opened;
}

/**
 * Whether `root/components...` is a real directory reached without any
 * symlink: a cgroup directory that is safe to list processes from (a
 * symlinked "cgroup" could list any pids of the host for a kill).
 */
export function isDirBeneath(root: string, components: readonly string[]): boolean {
  if (!components.every(isPlainName)) return false;
  let dir = root;
  try {
    if (!fs.statSync(root).isDirectory()) return false;
    for (const c of components) {
      dir = path.join(dir, c);
      const st = fs.lstatSync(dir, { throwIfNoEntry: false });
      if (st === undefined || !st.isDirectory()) return false;
    }
  } catch {
    return false;
  }
  return true;
}

/** Thrown by requireRegularFile: the path is not a regular file. */
export class UnsafeFileError extends Error {
  override readonly name = "UnsafeFileError";
  constructor(
    readonly reason: UnsafeReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * For files the native addon opens itself (cgroup.event_control and the
 * file it watches, PSI trigger files): lstat first, so a FIFO (whose
 * blocking open would freeze the loop), socket, directory or symlink is
 * refused before the addon's open. A missing file passes: the open reports it.
 */
export function requireRegularFile(p: string): void {
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (st === undefined) return;
  const k = kindOf(st);
  if (k !== "file") throw new UnsafeFileError(k, `${p} is a ${describeKind(k)}, not a control file`);
}
