/**
 * /dev/kmsg, read from its current end. Each read(2) returns one record;
 * with O_NONBLOCK an empty log is EAGAIN and a record overwritten before we
 * read it is EPIPE (the next read continues at the oldest one left).
 *
 * Node has no lseek(2), so "from the end" is done by reading the backlog at
 * open and discarding it unparsed (one syscall per record, a few ms for a
 * full ring): cgwatch never reports OOMs from before it started.
 */
import fs from "node:fs";
import { parseKmsgRecord, type KmsgRecord } from "./kmsg.js";

export interface KmsgReader {
  /** Every record logged since the last call, in order. */
  read(): KmsgRecord[];
  close(): void;
}

export type KmsgOpen =
  { readonly kind: "ok"; readonly reader: KmsgReader } | { readonly kind: "unavailable"; readonly reason: string };

/** Larger than any record (the kernel's limit is 1 KiB of text plus its dictionary). */
const RECORD_BUFFER = 16 * 1024;

export function openKmsg(file = "/dev/kmsg"): KmsgOpen {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    return { kind: "unavailable", reason: `${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  const buf = Buffer.alloc(RECORD_BUFFER);
  let open = true;
  /** Reads raw records until EAGAIN; `keep` false discards them (the backlog). */
  const pull = (keep: boolean): KmsgRecord[] => {
    const out: KmsgRecord[] = [];
    while (open) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EPIPE") continue; // overwritten before we read it: go on with the oldest left
        if (code === "EAGAIN") break;
        throw e;
      }
      if (n === 0) break;
      if (!keep) continue;
      const rec = parseKmsgRecord(buf.toString("utf8", 0, n));
      if (rec !== null) out.push(rec);
    }
    return out;
  };
  try {
    pull(false);
  } catch (e) {
    fs.closeSync(fd);
    return { kind: "unavailable", reason: `${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  return {
    kind: "ok",
    reader: {
      read: () => pull(true),
      close() {
        if (!open) return;
        open = false;
        fs.closeSync(fd);
      },
    },
  };
}
