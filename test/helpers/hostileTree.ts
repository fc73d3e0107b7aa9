/**
 * The shapes a hostile or broken filesystem puts where a cgroup control file
 * belongs: real FIFOs, unix sockets, directories and symlinks (no mocks), and
 * a fingerprint of a directory tree to prove nothing outside a root changed.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** A real FIFO (mkfifo(1): Node has no mkfifo). */
export function makeFifo(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
  execFileSync("mkfifo", [p]);
}

/**
 * Templates of a FIFO and a bound unix socket, made once: each instance is a
 * hard link to one (link(2) works on any non-directory inode), so a fuzz run
 * can place hundreds of them synchronously.
 */
export interface SpecialFiles {
  fifo(p: string): void;
  socket(p: string): void;
  cleanup(): void;
}

export async function specialFiles(): Promise<SpecialFiles> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-special-"));
  const fifo = path.join(dir, "fifo");
  makeFifo(fifo);
  const sock = path.join(dir, "sock");
  const bound = path.join(dir, "bound");
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(bound, resolve);
  });
  // The link keeps a socket inode after the server closes (and unlinks `bound`).
  fs.linkSync(bound, sock);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const place = (template: string, p: string): void => {
    fs.rmSync(p, { recursive: true, force: true });
    fs.linkSync(template, p);
  };
  return {
    fifo: (p) => place(fifo, p),
    socket: (p) => place(sock, p),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Replaces whatever is at `p` with a symlink to `target`. */
export function symlinkAt(p: string, target: string): void {
  fs.rmSync(p, { recursive: true, force: true });
  fs.symlinkSync(target, p);
}

/** Replaces whatever is at `p` with an empty directory. */
export function directoryAt(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
  fs.mkdirSync(p);
}

/**
 * Every entry under `dir` (not following symlinks) with its type, mode,
 * size, mtime and, for regular files, content: equal fingerprints mean
 * nothing in the tree was written, truncated, created or removed.
 */
export function fingerprint(dir: string): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const head = `${path.relative(dir, p)} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`;
      if (st.isDirectory()) {
        out.push(head);
        walk(p);
      } else if (st.isFile()) out.push(`${head} ${JSON.stringify(fs.readFileSync(p, "utf8"))}`);
      else if (st.isSymbolicLink()) out.push(`${head} -> ${fs.readlinkSync(p)}`);
      else out.push(head);
    }
  };
  walk(dir);
  return out.join("\n");
}
