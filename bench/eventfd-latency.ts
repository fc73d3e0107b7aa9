/**
 * Notification latency: an eventfd write in another process → the JS
 * callback in this one (the addon's uv_poll Watcher, the path a v1 OOM takes
 * from the kernel's eventfd_signal), beside the polling fallback (a file
 * re-read every `pollIntervalMs`, as when the addon is unavailable).
 *
 * Ack mode: the child writes, records CLOCK_MONOTONIC (process.hrtime, the
 * same clock in both processes) just before the write, and waits for this
 * process's ack before the next write after a random pause, so each sample
 * is one isolated wake with an idle loop, not a queue. Run standalone after
 * `npm run build`: `node dist/bench/eventfd-latency.js [eventfdWakes] [pollWakes]`.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { loadNative } from "../src/native/index.js";

export interface LatencyStats {
  readonly wakes: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface EventfdLatencyResult {
  readonly eventfd:
    ({ readonly kind: "measured" } & LatencyStats) | { readonly kind: "unavailable"; readonly reason: string };
  readonly poll: { readonly kind: "measured"; readonly intervalMs: number } & LatencyStats;
  readonly node: string;
  readonly kernel: string;
}

export interface EventfdLatencyOptions {
  readonly eventfdWakes?: number;
  /** Each poll wake costs ~one interval: 100 wakes at 100 ms take ~10 s. */
  readonly pollWakes?: number;
  readonly pollIntervalMs?: number;
  /** Random pause before each eventfd write, so the loop is idle in epoll_wait when it arrives. */
  readonly eventfdPauseMs?: number;
}

/** The writer: fd 3 is the eventfd (mode "eventfd") or argv file is rewritten (mode "file"); one byte on stdin = ack. */
const CHILD = `
const fs = require("fs");
const [mode, nText, pauseText, file] = process.argv.slice(1);
const n = Number(nText), pause = Number(pauseText);
const one = Buffer.alloc(8); one.writeBigUInt64LE(1n);
const t0 = [];
function fire() {
  t0.push(process.hrtime.bigint().toString());
  if (mode === "eventfd") fs.writeSync(3, one); else fs.writeFileSync(file, String(t0.length));
}
let acked = 0;
process.stdin.on("data", (d) => {
  for (let k = 0; k < d.length; k++) {
    acked++;
    if (acked < n) setTimeout(fire, Math.random() * pause);
    else { process.stdout.write(JSON.stringify(t0)); process.exit(0); }
  }
});
setTimeout(fire, 20);
`;

function stats(latenciesNs: bigint[]): LatencyStats {
  const ms = latenciesNs.map((ns) => Number(ns) / 1e6).sort((a, b) => a - b);
  const at = (q: number): number => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
  return { wakes: ms.length, medianMs: at(0.5), p99Ms: at(0.99), maxMs: ms.at(-1) ?? NaN };
}

/** Runs the child; `arm(ack, record)` wires the receiving side and returns its teardown. */
async function runWriter(
  mode: "eventfd" | "file",
  wakes: number,
  pauseMs: number,
  stdio3: number | "ignore",
  file: string,
  arm: (onWake: () => void) => () => void,
): Promise<bigint[]> {
  const child = spawn(process.execPath, ["-e", CHILD, mode, String(wakes), String(pauseMs), file], {
    stdio: ["pipe", "pipe", "inherit", stdio3],
  });
  const { stdin, stdout } = child;
  if (stdin === null || stdout === null) throw new Error("latency writer has no stdio pipes");
  const t1: bigint[] = [];
  const teardown = arm(() => {
    t1.push(process.hrtime.bigint());
    stdin.write("a");
  });
  let out = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  teardown();
  if (code !== 0) throw new Error(`latency writer exited with ${String(code)}`);
  const t0 = (JSON.parse(out) as string[]).map((s) => BigInt(s));
  if (t0.length !== t1.length) throw new Error(`writer sent ${t0.length} wakes, ${t1.length} received`);
  return t0.map((t, i) => (t1[i] ?? t) - t);
}

export async function runEventfdLatencyBench(options: EventfdLatencyOptions = {}): Promise<EventfdLatencyResult> {
  const eventfdWakes = options.eventfdWakes ?? 1000;
  const pollWakes = options.pollWakes ?? 100;
  const intervalMs = options.pollIntervalMs ?? 100;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-bench-"));
  try {
    let eventfd: EventfdLatencyResult["eventfd"];
    const load = loadNative();
    if (load.kind === "loaded") {
      const n = load.native;
      const efd = n.eventfd();
      const w = { current: null as null | { close(): void } };
      const lat = await runWriter("eventfd", eventfdWakes, options.eventfdPauseMs ?? 2, efd, "", (onWake) => {
        w.current = new n.Watcher(efd, 0, (err) => {
          if (err === null) onWake();
        });
        return () => w.current?.close(); // closes efd too
      });
      eventfd = { kind: "measured", ...stats(lat) };
    } else {
      eventfd = { kind: "unavailable", reason: load.reason };
    }

    const file = path.join(tmp, "counter");
    fs.writeFileSync(file, "0");
    const pollLat = await runWriter("file", pollWakes, intervalMs, "ignore", file, (onWake) => {
      let last = "0";
      const timer = setInterval(() => {
        const now = fs.readFileSync(file, "utf8");
        if (now !== last && now !== "") {
          last = now;
          onWake();
        }
      }, intervalMs);
      return () => clearInterval(timer);
    });
    return {
      eventfd,
      poll: { kind: "measured", intervalMs, ...stats(pollLat) },
      node: process.version,
      kernel: os.release(),
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function fmt(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(1)} ms`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [eventfdWakes, pollWakes] = process.argv.slice(2).map(Number);
  const r = await runEventfdLatencyBench({
    ...(eventfdWakes !== undefined && eventfdWakes > 0 ? { eventfdWakes } : {}),
    ...(pollWakes !== undefined && pollWakes > 0 ? { pollWakes } : {}),
  });
  if (r.eventfd.kind === "measured") {
    process.stdout.write(
      `eventfd write → JS callback (uv_poll): median ${fmt(r.eventfd.medianMs)}, p99 ${fmt(r.eventfd.p99Ms)}, max ${fmt(r.eventfd.maxMs)} over ${r.eventfd.wakes} wakes\n`,
    );
  } else {
    process.stdout.write(`eventfd: unavailable (${r.eventfd.reason})\n`);
  }
  process.stdout.write(
    `polling every ${r.poll.intervalMs} ms: median ${fmt(r.poll.medianMs)}, p99 ${fmt(r.poll.p99Ms)}, max ${fmt(r.poll.maxMs)} over ${r.poll.wakes} wakes\n`,
  );
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
