/**
 * Issue 3's event-level checks, end to end on the host's real v1 kernel:
 * the lead's watch loop (discovery → tracker → events) wired with the
 * eventfd notifiers exactly as the daemon does, with polling and the safety
 * net pushed out to a minute so only a kernel notification can produce the
 * events inside the test's time.
 */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createFileReader } from "../../src/cgroup/read.js";
import type { WatchdogEvent } from "../../src/events/types.js";
import { loadNative } from "../../src/native/index.js";
import { createNativeNotifiers } from "../../src/watch/nativeNotifiers.js";
import { createWatcher } from "../../src/watch/watcher.js";
import { collect } from "../helpers/collect.js";
import {
  IN_CI,
  createScratchCgroup,
  describeRealV1,
  hogArgs,
  waitExit,
  type ScratchCgroup,
} from "../helpers/realCgroup.js";
import { procState } from "../native/util.js";

const MB = 1024 * 1024;
const cleanups: (() => Promise<void> | void)[] = [];
/** A source that fails is swallowed by the watch loop (isolation): the tests check none did. */
let sourceErrors: string[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  const errors = sourceErrors;
  sourceErrors = [];
  expect(errors).toEqual([]);
});

function describeRealV1Native(name: string, body: () => void): void {
  const load = loadNative();
  if (load.kind === "loaded" || IN_CI) describeRealV1(name, ["memory"], body);
  else describe.skip(`[real v1, SKIPPED: ${load.reason}] ${name}`, body);
}

function scratch(): ScratchCgroup {
  const s = createScratchCgroup(["memory"], "pipe");
  cleanups.push(() => s.remove());
  return s;
}

function limit(s: ScratchCgroup, bytes: number): void {
  const memsw = fs.existsSync(s.file("memory", "memory.memsw.limit_in_bytes"));
  if (memsw && bytes > Number(s.read("memory", "memory.limit_in_bytes")))
    s.write("memory", "memory.memsw.limit_in_bytes", String(bytes));
  s.write("memory", "memory.limit_in_bytes", String(bytes));
  if (memsw) s.write("memory", "memory.memsw.limit_in_bytes", String(bytes));
}

async function watch(s: ScratchCgroup, v1PressureLevel: "low" | null = null) {
  const reader = createFileReader();
  const watcher = createWatcher({
    layout: s.layout,
    reader,
    patterns: [s.cgroup],
    pollIntervalMs: 60_000,
    safetyNetIntervalMs: 60_000,
    persistent: false,
    native: createNativeNotifiers({ keepAlive: false, softLimitRecheckMs: 60_000 }),
    v1PressureLevels: v1PressureLevel === null ? [] : [v1PressureLevel],
    onSourceError: (cg, src, err) =>
      sourceErrors.push(`${cg} ${src}: ${err instanceof Error ? err.message : String(err)}`),
  });
  const c = collect(watcher.events$);
  cleanups.push(() => {
    c.sub.unsubscribe();
    reader.close();
  });
  expect(await watcher.ready).toBe(1);
  expect(watcher.notifierOf(s.cgroup)).toBe("eventfd");
  return c;
}

describeRealV1Native("eventfd notifications through the watch pipeline", () => {
  it("a hog past a 50M limit: oom_kill arrives from the eventfd path, not from polling", async () => {
    const s = scratch();
    limit(s, 50 * MB);
    const c = await watch(s);
    const [cmd, args] = hogArgs(150, 1);
    const hog = s.spawnInside(cmd, args, 20_000);
    const got = await c.until((vs) => vs.some((e) => e.kind === "oom_kill"));
    expect((await waitExit(hog)).signal).toBe("SIGKILL");
    expect(got.find((e) => e.kind === "oom_kill")).toMatchObject({
      cgroup: s.cgroup,
      source: "eventfd",
      counter: { before: 0 },
    });
  });

  it("three kills in a row: the follow-up re-reads (1, 2, 4 ... ms) count each kill once, as the kernel does", async () => {
    const s = scratch();
    limit(s, 50 * MB);
    const c = await watch(s);
    const [cmd, args] = hogArgs(120, 0);
    for (let i = 0; i < 3; i++) {
      expect((await waitExit(s.spawnInside(cmd, args, 20_000))).signal).toBe("SIGKILL");
      await new Promise((r) => setTimeout(r, 1100)); // past the last follow-up re-read
    }
    const kernel = Number(/oom_kill (\d+)/.exec(s.read("memory", "memory.oom_control"))?.[1]);
    const kills = c.values.filter((e) => e.kind === "oom_kill");
    expect(kills.every((e) => e.source === "eventfd")).toBe(true);
    expect(kills.reduce((n, e) => n + (e.kind === "oom_kill" ? e.counter.after - e.counter.before : 0), 0)).toBe(
      kernel,
    );
    expect(kernel).toBeGreaterThanOrEqual(3);
  });

  it("oom_kill_disable 1: under_oom is emitted while the hog is alive and stalled; raising the limit releases it", async () => {
    const s = scratch();
    limit(s, 50 * MB);
    s.write("memory", "memory.oom_control", "1");
    const c = await watch(s);
    const [cmd, args] = hogArgs(80, 1);
    const hog = s.spawnInside(cmd, args, 25_000);
    let aliveAtEvent: string | null = "unset";
    const got = await c.until((vs) => {
      const hit = vs.some((e) => e.kind === "under_oom" && e.underOom);
      if (hit && aliveAtEvent === "unset")
        aliveAtEvent = hog.exitCode === null && hog.signalCode === null ? procState(hog.pid ?? -1) : null;
      return hit;
    });
    expect(got.find((e) => e.kind === "under_oom")).toMatchObject({
      source: "eventfd",
      underOom: true,
      oomKillDisable: true,
    });
    expect(["S", "D"]).toContain(aliveAtEvent);
    limit(s, 200 * MB);
    expect(await waitExit(hog)).toEqual({ code: 0, signal: null });
    expect(c.values.some((e) => e.kind === "oom_kill")).toBe(false);
  });

  it("crossing the soft limit: reservation_breach above, then back below", async () => {
    const s = scratch();
    limit(s, 200 * MB);
    s.write("memory", "memory.soft_limit_in_bytes", String(30 * MB));
    const c = await watch(s);
    // Allocates 60M, then frees it all and idles until killed.
    const script =
      "import time\nchunks = [bytearray(1024 * 1024) for _ in range(60)]\ntime.sleep(0.3)\nchunks.clear()\nprint('freed', flush=True)\ntime.sleep(30)";
    s.spawnInside("python3", ["-c", script], 25_000);
    const isBreach = (e: WatchdogEvent, above: boolean): boolean =>
      e.kind === "reservation_breach" && e.above === above;
    await c.until((vs) => vs.some((e) => isBreach(e, true)) && vs.some((e) => isBreach(e, false)));
    const up = c.values.findIndex((e) => isBreach(e, true));
    const down = c.values.findIndex((e) => isBreach(e, false));
    expect(up).toBeLessThan(down);
    expect(c.values[up]).toMatchObject({ source: "eventfd", reservationBytes: 30 * MB });
    expect(c.values[down]).toMatchObject({ source: "eventfd", reservationBytes: 30 * MB });
  });

  it("a pressure-level registration fires under reclaim: memory_pressure from eventfd", async () => {
    const s = scratch();
    limit(s, 50 * MB);
    const c = await watch(s, "low");
    const dir = fs.mkdtempSync("/var/tmp/cgwatch-reclaim-");
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const script =
      "import os, sys\nf = open(sys.argv[1], 'wb')\nfor i in range(120):\n    f.write(b'x' * 1048576)\n    if i % 8 == 7: f.flush(); os.fsync(f.fileno())\nf.close()";
    const writer = s.spawnInside("python3", ["-c", script, `${dir}/cache`], 25_000);
    expect(await waitExit(writer)).toEqual({ code: 0, signal: null });
    const got = await c.until((vs) => vs.some((e) => e.kind === "memory_pressure"));
    expect(got.find((e) => e.kind === "memory_pressure")).toMatchObject({
      cgroup: s.cgroup,
      source: "eventfd",
      resource: "memory",
      level: "low",
    });
  });

  it("removing a watched cgroup produces cgroup_removed and no OOM", async () => {
    const s = scratch();
    limit(s, 50 * MB);
    const c = await watch(s, "low");
    fs.rmdirSync(s.dir("memory"));
    await c.until((vs) => vs.some((e) => e.kind === "cgroup_removed"));
    // Give the kernel's removal ticks time to arrive and be (not) turned into events.
    await new Promise((r) => setTimeout(r, 300));
    expect(
      c.values.filter((e) =>
        ["oom", "oom_kill", "under_oom", "memory_pressure", "reservation_breach"].includes(e.kind),
      ),
    ).toEqual([]);
  });
});
