/**
 * The "kernel" of the fake-cgroupfs scenarios, in its own process so that
 * its work never shares an event loop with the daemon it measures.
 *
 * latency: bumps oom_kill in memory.events of a random cgroup with one
 * pwrite (one IN_MODIFY, as kernfs_notify gives one), and times from just
 * before the write to this process's inotify callback for the same
 * cgroup's memory.max, i.e. to the responder's write landing. The driver's
 * own inotify hop is in both the echo's and cgwatch's figures alike.
 *
 * storm: bumps a random memory.events counter of cgroup after cgroup, round
 * robin, as fast as one core writes, and reports what it wrote.
 *
 * scrape: GETs a URL back to back until told to stop (or its time bound).
 */
import fs from "node:fs";
import path from "node:path";
import { cgroupName, MEMORY_EVENT_KEYS, memoryEventsText, parseMemoryEvents, sleep } from "./common.js";

export type DriverCommand =
  | {
      readonly cmd: "latency";
      readonly root: string;
      readonly n: number;
      readonly samples: number;
      readonly warmup: number;
      readonly paceMinMs: number;
      readonly paceMaxMs: number;
      readonly timeoutMs: number;
    }
  | {
      readonly cmd: "storm";
      readonly root: string;
      readonly n: number;
      readonly seconds: number;
      readonly ratePerSecond?: number;
    }
  | { readonly cmd: "scrape"; readonly url: string; readonly maxSeconds: number }
  | { readonly cmd: "stop" };

export type DriverReply =
  | { readonly kind: "latency"; readonly latUs: number[]; readonly lost: number }
  | { readonly kind: "storm"; readonly writes: number; readonly seconds: number; readonly increments: number }
  | {
      readonly kind: "scrape";
      readonly scrapes: number;
      readonly bytes: number;
      readonly errors: number;
      readonly seconds: number;
    }
  | { readonly kind: "error"; readonly message: string };

const reply = (r: DriverReply): void => {
  process.send?.(r);
};

/** Kept fds and the last counters written, per cgroup index. */
class Counters {
  private readonly fds = new Map<number, number>();
  private readonly values = new Map<number, number[]>();
  constructor(private readonly root: string) {}
  bump(i: number, key: number): void {
    let fd = this.fds.get(i);
    let c = this.values.get(i);
    if (fd === undefined || c === undefined) {
      const p = path.join(this.root, cgroupName(i), "memory.events");
      fd = fs.openSync(p, "r+");
      c = parseMemoryEvents(fs.readFileSync(p, "utf8"));
      this.fds.set(i, fd);
      this.values.set(i, c);
    }
    c[key] = (c[key] ?? 0) + 1;
    fs.writeSync(fd, memoryEventsText(c), 0);
  }
  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
  }
}

const OOM_KILL = MEMORY_EVENT_KEYS.indexOf("oom_kill");

async function latency(c: Extract<DriverCommand, { cmd: "latency" }>): Promise<DriverReply> {
  const counters = new Counters(c.root);
  const latUs: number[] = [];
  let lost = 0;
  try {
    for (let s = 0; s < c.warmup + c.samples; s++) {
      const i = Math.floor(Math.random() * c.n);
      const maxPath = path.join(c.root, cgroupName(i), "memory.max");
      const ns = await new Promise<bigint | null>((resolve) => {
        let t0 = 0n;
        let done = false;
        const w = fs.watch(maxPath, () => {
          if (done) return;
          const t1 = process.hrtime.bigint();
          done = true;
          clearTimeout(timer);
          w.close();
          resolve(t1 - t0);
        });
        const timer = setTimeout(() => {
          done = true;
          w.close();
          resolve(null);
        }, c.timeoutMs);
        t0 = process.hrtime.bigint();
        counters.bump(i, OOM_KILL);
      });
      if (s >= c.warmup) {
        if (ns === null) lost++;
        else latUs.push(Number(ns) / 1000);
      }
      // Paced with a random gap so each sample finds an idle loop (latency, not queueing).
      await sleep(c.paceMinMs + Math.random() * (c.paceMaxMs - c.paceMinMs));
    }
  } finally {
    counters.close();
  }
  return { kind: "latency", latUs, lost };
}

function storm(c: Extract<DriverCommand, { cmd: "storm" }>): DriverReply {
  const counters = new Counters(c.root);
  let writes = 0;
  const t0 = performance.now();
  const deadline = t0 + c.seconds * 1000;
  try {
    outer: for (;;) {
      for (let i = 0; i < c.n; i++) {
        counters.bump(i, Math.floor(Math.random() * MEMORY_EVENT_KEYS.length));
        writes++;
        if ((writes & 1023) === 0) {
          const t = performance.now();
          if (t >= deadline) break outer;
          // Optional pacing: block until the schedule catches up (a storm the daemon can keep up with).
          if (c.ratePerSecond !== undefined) {
            const due = t0 + (writes / c.ratePerSecond) * 1000;
            if (due > t) Atomics.wait(PAUSE, 0, 0, due - t);
          }
        }
      }
    }
  } finally {
    counters.close();
  }
  return { kind: "storm", writes, increments: writes, seconds: (performance.now() - t0) / 1000 };
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

let stopScrape = false;

async function scrape(c: Extract<DriverCommand, { cmd: "scrape" }>): Promise<DriverReply> {
  let scrapes = 0;
  let bytes = 0;
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + c.maxSeconds * 1000;
  while (!stopScrape && performance.now() < deadline) {
    try {
      const res = await fetch(c.url);
      bytes += (await res.arrayBuffer()).byteLength;
      scrapes++;
    } catch {
      errors++;
      await sleep(10);
    }
  }
  return { kind: "scrape", scrapes, bytes, errors, seconds: (performance.now() - t0) / 1000 };
}

process.on("message", (m: DriverCommand) => {
  const run = async (): Promise<DriverReply> => {
    switch (m.cmd) {
      case "latency":
        return latency(m);
      case "storm":
        return storm(m);
      case "scrape":
        stopScrape = false;
        return scrape(m);
      case "stop":
        stopScrape = true;
        return { kind: "error", message: "stopped" };
    }
  };
  if (m.cmd === "stop") {
    stopScrape = true;
    return;
  }
  run().then(reply, (err: unknown) =>
    reply({ kind: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
