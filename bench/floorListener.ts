/**
 * The floors of the CPU figure, each in a process of its own so that its
 * CPU and RSS are its own:
 * - minimal: one inotify instance (libuv keeps one per loop; fs.watch adds a
 *   watch to it) with a watch on every `memory.events`; on each notification
 *   re-read the file (pread into one buffer on a kept fd), parse the six
 *   counters without building strings, diff them against the last read and
 *   count what moved. Nothing else: the least a JS watcher of memory.events
 *   can do.
 * - echo: the latency scenario's floor, fs.watch → writeFileSync memory.max.
 *
 * Driven by bench/floor.ts over IPC: `start` sets the watches up, `usage`
 * reports CPU so far, changes counted and RSS.
 */
import fs from "node:fs";
import path from "node:path";
import { cgroupName } from "./common.js";

export type FloorMode = "minimal" | "echo";
export type FloorCommand =
  | { readonly cmd: "start"; readonly mode: FloorMode; readonly root: string; readonly n: number }
  | { readonly cmd: "usage" };
export type FloorReply =
  | { readonly kind: "started" }
  | {
      readonly kind: "usage";
      readonly cpuMs: number;
      readonly notifications: number;
      readonly changes: number;
      readonly rssMb: number;
    };

const KEYS = 6;
let notifications = 0;
let changes = 0;
const watchers: fs.FSWatcher[] = [];

/** Counters of `buf[0..len)` ("key value\n" lines, in file order) into `out` at `at`. */
function parseInto(buf: Buffer, len: number, out: Float64Array, at: number): void {
  let k = 0;
  let v = 0;
  let inValue = false;
  for (let i = 0; i < len && k < KEYS; i++) {
    const c = buf[i] ?? 0;
    if (c === 0x20) {
      inValue = true;
      v = 0;
    } else if (c === 0x0a) {
      out[at + k++] = v;
      inValue = false;
    } else if (inValue) v = v * 10 + (c - 0x30);
  }
}

function startMinimal(root: string, n: number): void {
  const last = new Float64Array(n * KEYS);
  const now = new Float64Array(KEYS);
  const buf = Buffer.alloc(4096);
  for (let i = 0; i < n; i++) {
    const file = path.join(root, cgroupName(i), "memory.events");
    const fd = fs.openSync(file, "r");
    parseInto(buf, fs.readSync(fd, buf, 0, buf.length, 0), last, i * KEYS);
    watchers.push(
      fs.watch(file, () => {
        notifications++;
        parseInto(buf, fs.readSync(fd, buf, 0, buf.length, 0), now, 0);
        for (let k = 0; k < KEYS; k++) {
          const d = (now[k] ?? 0) - (last[i * KEYS + k] ?? 0);
          if (d !== 0) {
            changes += d;
            last[i * KEYS + k] = now[k] ?? 0;
          }
        }
      }),
    );
  }
}

function startEcho(root: string, n: number): void {
  for (let i = 0; i < n; i++) {
    const dir = path.join(root, cgroupName(i));
    const target = path.join(dir, "memory.max");
    watchers.push(
      fs.watch(path.join(dir, "memory.events"), () => {
        notifications++;
        changes++;
        fs.writeFileSync(target, "1074790400\n");
      }),
    );
  }
}

process.on("message", (m: FloorCommand) => {
  const send = (r: FloorReply): void => {
    process.send?.(r);
  };
  switch (m.cmd) {
    case "start":
      if (m.mode === "minimal") startMinimal(m.root, m.n);
      else startEcho(m.root, m.n);
      send({ kind: "started" });
      return;
    case "usage": {
      const u = process.cpuUsage();
      send({
        kind: "usage",
        cpuMs: (u.user + u.system) / 1000,
        notifications,
        changes,
        rssMb: process.memoryUsage().rss / 2 ** 20,
      });
      return;
    }
  }
});
