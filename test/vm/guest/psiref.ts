/**
 * An independent PSI trigger as the reference clock for cgwatch's own: a
 * separate process (python, no cgwatch code) that registers the same trigger
 * on the same pressure file and prints CLOCK_MONOTONIC at every POLLPRI wake.
 * Node's process.hrtime is CLOCK_MONOTONIC too, so the two line up.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { PYTHON } from "./guest.js";

const SCRIPT = `
import os, select, sys, time
path, trigger = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
os.write(fd, trigger.encode() + b"\\0")
p = select.poll()
p.register(fd, select.POLLPRI)
print("ready", time.monotonic_ns(), flush=True)
while True:
    for _, ev in p.poll():
        now = time.monotonic_ns()
        if ev & select.POLLERR:
            print("gone", now, ev, time.time_ns(), flush=True)
            sys.exit(0)
        print("wake", now, ev, time.time_ns(), flush=True)
`;

export interface ReferenceTrigger {
  /** CLOCK_MONOTONIC ms of each POLLPRI wake. */
  readonly wakes: number[];
  /** Wall-clock ms of each wake (for comparing with another process's log times). */
  readonly wallWakes: number[];
  /** Wall-clock ms of a POLLERR (the trigger's file is gone), or null. */
  gone(): number | null;
  readonly ready: Promise<void>;
  /** The process's stderr, for failure messages. */
  stderr(): string;
  stop(): void;
}

/** CLOCK_MONOTONIC in ms, the clock the reference prints. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function referenceTrigger(pressureFile: string, trigger: string): ReferenceTrigger {
  const child: ChildProcess = spawn(PYTHON, ["-c", SCRIPT, pressureFile, trigger], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const wakes: number[] = [];
  const wallWakes: number[] = [];
  let goneAt: number | null = null;
  let err = "";
  let partial = "";
  let markReady: () => void = () => undefined;
  let fail: (e: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    fail = reject;
  });
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  child.on("exit", (code) => fail(new Error(`reference trigger exited with ${String(code)}: ${err}`)));
  child.stdout?.on("data", (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const [what, ns, , wall] = line.split(" ");
      if (what === "ready") markReady();
      if (what === "gone" && wall !== undefined) goneAt = Number(BigInt(wall)) / 1e6;
      if (what === "wake" && ns !== undefined) {
        wakes.push(Number(BigInt(ns)) / 1e6);
        if (wall !== undefined) wallWakes.push(Number(BigInt(wall)) / 1e6);
      }
    }
  });
  return {
    wakes,
    wallWakes,
    gone: () => goneAt,
    ready,
    stderr: () => err,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
