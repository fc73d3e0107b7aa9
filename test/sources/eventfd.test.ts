/**
 * Real cgroup v1 memory notifications through eventfd on this host: scratch
 * cgroups under the test process's own memory cgroup, bounded python hogs,
 * everything removed in afterEach even when an assertion fails.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Subject, startWith } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/index.js";
import { NativeSourceError } from "../../src/sources/eventfd.js";
import {
  readV1SoftLimit,
  reservationBreachWakes,
  v1EventfdTicks,
  v1OomWakes,
  v1PressureLevelWakes,
  v1ThresholdWakes,
} from "../../src/sources/v1Notifications.js";
import {
  IN_CI,
  createScratchCgroup,
  describeRealV1,
  hogArgs,
  waitExit,
  type ScratchCgroup,
} from "../helpers/realCgroup.js";
import { countFds, isEventfd, procState, readOomControl, record, waitFor } from "../native/util.js";

const MB = 1024 * 1024;

/** Real v1 and the addon: without the addon this tier skips loudly locally and fails in CI (describeNative's rule). */
function describeRealV1Native(name: string, controllers: readonly string[], body: () => void): void {
  const load = loadNative();
  if (load.kind === "loaded" || IN_CI) describeRealV1(name, controllers, body);
  else describe.skip(`[real v1, SKIPPED: ${load.reason}] ${name}`, body);
}

let scratches: ScratchCgroup[] = [];
let cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const c of cleanups) c();
  cleanups = [];
  for (const s of scratches) await s.remove();
  scratches = [];
});

function scratch(): { s: ScratchCgroup; dir: string } {
  const s = createScratchCgroup(["memory"], "efd");
  scratches.push(s);
  return { s, dir: s.dir("memory") };
}

/** Sets the hard limit and, where swap accounting exists, memsw to the same (memsw >= limit always). */
function limitMemory(s: ScratchCgroup, bytes: number): void {
  const memsw = fs.existsSync(s.file("memory", "memory.memsw.limit_in_bytes"));
  const current = Number(s.read("memory", "memory.limit_in_bytes"));
  if (bytes > current && memsw) s.write("memory", "memory.memsw.limit_in_bytes", String(bytes));
  s.write("memory", "memory.limit_in_bytes", String(bytes));
  if (bytes <= current && memsw) s.write("memory", "memory.memsw.limit_in_bytes", String(bytes));
}

function track<T>(r: ReturnType<typeof record<T>>): ReturnType<typeof record<T>> {
  cleanups.push(() => r.sub.unsubscribe());
  return r;
}

function stdoutOf(child: ChildProcess): { text: string } {
  const out = { text: "" };
  child.stdout?.on("data", (d: Buffer) => (out.text += d.toString()));
  return out;
}

/** A hog in two phases: allocate `mb`, say "up", free everything on SIGUSR1, say "down", then idle until killed. */
function twoPhaseHogArgs(mb: number): [string, string[]] {
  const script = [
    "import signal, time, gc",
    "chunks = [bytearray(1024 * 1024) for _ in range(" + String(mb) + ")]",
    "freed = []",
    "signal.signal(signal.SIGUSR1, lambda *a: freed.append(1))",
    "print('up', flush=True)",
    "while not freed: time.sleep(0.01)",
    "chunks.clear(); gc.collect()",
    "print('down', flush=True)",
    "time.sleep(30)",
  ].join("\n");
  return ["python3", ["-c", script]];
}

describeRealV1Native("eventfd notifications (memory.oom_control, usage thresholds, pressure level)", ["memory"], () => {
  it("a hog past a 50M limit produces an eventfd OOM wake, and oom_kill went up", async () => {
    const { s, dir } = scratch();
    limitMemory(s, 50 * MB);
    const before = readOomControl(dir).oomKill;
    const wakes = track(record(v1OomWakes({ dir, cgroup: s.cgroup })));
    const [cmd, args] = hogArgs(150, 1);
    const hog = s.spawnInside(cmd, args, 20_000);
    const exit = await waitExit(hog);
    expect(exit.signal).toBe("SIGKILL");
    await waitFor(() => wakes.values.length >= 1, "the OOM wake");
    const w = wakes.values[0];
    expect(w).toMatchObject({ kind: "file_changed", cgroup: s.cgroup, file: "memory.oom_control", source: "eventfd" });
    expect(readOomControl(dir).oomKill).toBeGreaterThan(before);
    // The kernel notifies before the kill is counted: follow-up re-reads (10, 100, 1000 ms) carry the notification's time.
    await waitFor(() => wakes.values.length >= 4, "the settle re-reads");
    expect(new Set(wakes.values.map((x) => x.at)).size).toBeLessThan(wakes.values.length);
    expect(wakes.error).toBeUndefined();
  });

  it("oom_kill_disable 1: the wake finds under_oom 1 while the hog is alive and stalled; raising the limit lets it finish", async () => {
    const { s, dir } = scratch();
    limitMemory(s, 50 * MB);
    s.write("memory", "memory.oom_control", "1");
    const states: { underOom: number; alive: boolean; state: string | null }[] = [];
    // Spawning is asynchronous: both registrations below exist before the child even joins the cgroup.
    const [cmd, args] = hogArgs(80, 1);
    const hog = s.spawnInside(cmd, args, 25_000);
    const out = stdoutOf(hog);
    const wakes = track(record(v1OomWakes({ dir, cgroup: s.cgroup })));
    // A second registration reads memory.oom_control on every wake, as the tracker will.
    const sub = v1OomWakes({ dir, cgroup: s.cgroup }).subscribe(() => {
      states.push({
        underOom: readOomControl(dir).underOom,
        alive: hog.exitCode === null && hog.signalCode === null,
        state: hog.pid === undefined ? null : procState(hog.pid),
      });
    });
    cleanups.push(() => sub.unsubscribe());
    await waitFor(() => states.some((x) => x.underOom === 1), "a wake that reads under_oom 1");
    expect(wakes.values.length).toBeGreaterThanOrEqual(1);
    expect(wakes.values.every((w) => w.kind === "file_changed" && w.source === "eventfd")).toBe(true);
    const stalled = states.find((x) => x.underOom === 1);
    expect(stalled?.alive).toBe(true);
    expect(["S", "D"]).toContain(stalled?.state);
    // Parked in the memcg OOM wait queue: sleeping, never running or dead.
    expect(["S", "D"]).toContain(procState(hog.pid ?? -1));
    expect(hog.exitCode).toBeNull();
    expect(readOomControl(dir).oomKill).toBe(0);
    limitMemory(s, 200 * MB);
    const exit = await waitExit(hog);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(out.text).toBe("done\n");
    expect(readOomControl(dir)).toMatchObject({ underOom: 0, oomKill: 0 });
  });

  it("registering on a cgroup that is already under OOM fires at once", async () => {
    const { s, dir } = scratch();
    limitMemory(s, 50 * MB);
    s.write("memory", "memory.oom_control", "1");
    const [cmd, args] = hogArgs(80, 1);
    s.spawnInside(cmd, args, 25_000);
    // Found by reading, not by a notification: no registration exists yet.
    await waitFor(() => readOomControl(dir).underOom === 1, "under_oom 1");
    const wakes = track(record(v1OomWakes({ dir, cgroup: s.cgroup })));
    await waitFor(() => wakes.values.length >= 1, "the immediate wake");
    expect(wakes.values[0]).toMatchObject({ kind: "file_changed", source: "eventfd" });
    // cleanup (afterEach) lifts oom_kill_disable and kills the stalled hog
  });

  it("crossing the soft limit wakes in both directions (reservation breach up, then back down)", async () => {
    const { s, dir } = scratch();
    limitMemory(s, 200 * MB);
    s.write("memory", "memory.soft_limit_in_bytes", String(30 * MB));
    const softLimits = new Subject<number>();
    const wakes = track(
      record(
        reservationBreachWakes({ dir, cgroup: s.cgroup, softLimits: softLimits.pipe(startWith(readV1SoftLimit(dir))) }),
      ),
    );
    const usageAt: number[] = [];
    const sub = reservationBreachWakes({ dir, cgroup: s.cgroup }).subscribe(() =>
      usageAt.push(Number(s.read("memory", "memory.usage_in_bytes"))),
    );
    cleanups.push(() => sub.unsubscribe());
    const [cmd, args] = twoPhaseHogArgs(60);
    const hog = s.spawnInside(cmd, args, 25_000);
    const out = stdoutOf(hog);
    await waitFor(() => out.text === "up\n", "the hog to allocate 60M");
    await waitFor(() => wakes.values.length >= 1, "the upward crossing");
    expect(Number(s.read("memory", "memory.usage_in_bytes"))).toBeGreaterThan(30 * MB);
    const up = wakes.values.length;
    hog.kill("SIGUSR1");
    await waitFor(() => out.text === "up\ndown\n", "the hog to free");
    await waitFor(() => wakes.values.length > up, "the downward crossing");
    expect(Number(s.read("memory", "memory.usage_in_bytes"))).toBeLessThan(30 * MB);
    for (const w of wakes.values)
      expect(w).toEqual({
        kind: "threshold_crossed",
        cgroup: s.cgroup,
        thresholdBytes: 30 * MB,
        at: expect.any(Number) as unknown,
      });
    // The second registration (soft limit read from the file) saw the same crossings, usage above then below.
    await waitFor(() => usageAt.length >= 2, "the second registration's wakes");
    expect(usageAt.some((u) => u > 30 * MB)).toBe(true);
    expect(usageAt.at(-1)).toBeLessThan(30 * MB);
  });

  it("re-arms when the soft limit changes: the old registration's fd is closed, unlimited means none", () => {
    const { s, dir } = scratch();
    const base = countFds(isEventfd);
    const softLimits = new Subject<number>();
    const wakes = track(record(reservationBreachWakes({ dir, cgroup: s.cgroup, softLimits })));
    expect(countFds(isEventfd)).toBe(base);
    softLimits.next(64 * MB);
    expect(countFds(isEventfd)).toBe(base + 1);
    softLimits.next(64 * MB); // unchanged: no churn
    expect(countFds(isEventfd)).toBe(base + 1);
    softLimits.next(32 * MB);
    expect(countFds(isEventfd)).toBe(base + 1);
    softLimits.next(9223372036854771712); // v1's "unlimited"
    expect(countFds(isEventfd)).toBe(base);
    softLimits.next(16 * MB);
    expect(countFds(isEventfd)).toBe(base + 1);
    wakes.sub.unsubscribe();
    expect(countFds(isEventfd)).toBe(base);
    expect(wakes.error).toBeUndefined();
  });

  it("a pressure-level registration fires under reclaim (page cache past a 50M limit)", async () => {
    const { s, dir } = scratch();
    limitMemory(s, 50 * MB);
    const wakes = track(record(v1PressureLevelWakes({ dir, cgroup: s.cgroup, level: "low" })));
    const file = path.join(fs.mkdtempSync("/var/tmp/cgwatch-reclaim-"), "cache");
    cleanups.push(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
    // Writing 120 MB of file data through a 50 MB cgroup forces reclaim of its own page cache (no OOM: cache is reclaimable).
    const script = [
      "import os, sys",
      "f = open(sys.argv[1], 'wb')",
      "for i in range(120):",
      "    f.write(b'x' * (1024 * 1024))",
      "    if i % 8 == 7: f.flush(); os.fsync(f.fileno())",
      "f.close(); print('written', flush=True)",
    ].join("\n");
    const writer = s.spawnInside("python3", ["-c", script, file], 25_000);
    const exit = await waitExit(writer);
    expect(exit).toEqual({ code: 0, signal: null });
    await waitFor(() => wakes.values.length >= 1, "a pressure_level wake");
    expect(wakes.values[0]).toEqual({
      kind: "pressure_level",
      cgroup: s.cgroup,
      level: "low",
      at: expect.any(Number) as unknown,
    });
    expect(readOomControl(dir).oomKill).toBe(0);
  });

  it("removing a cgroup signals every registration once more; that tick finds the directory gone and is not a wake", async () => {
    const { s, dir } = scratch();
    const raw = track(record(v1EventfdTicks(dir, "memory.oom_control", "")));
    const rawThreshold = track(record(v1EventfdTicks(dir, "memory.usage_in_bytes", String(10 * MB))));
    const oom = track(record(v1OomWakes({ dir, cgroup: s.cgroup })));
    const threshold = track(record(v1ThresholdWakes({ dir, cgroup: s.cgroup, thresholdBytes: 10 * MB })));
    const pressure = track(record(v1PressureLevelWakes({ dir, cgroup: s.cgroup, level: "critical", mode: "local" })));
    const base = countFds(isEventfd);
    fs.rmdirSync(dir);
    await waitFor(() => raw.values.length >= 1 && rawThreshold.values.length >= 1, "the removal ticks");
    expect(raw.values).toEqual([{ count: 1, at: expect.any(Number) as unknown, cgroupGone: true }]);
    expect(rawThreshold.values[0]?.cgroupGone).toBe(true);
    expect(fs.existsSync(dir)).toBe(false);
    await waitFor(() => oom.completed && threshold.completed && pressure.completed, "the wake sources to complete");
    // No false OOM, no false crossing: the sources completed without a wake, and closed their fds.
    expect([oom.values, threshold.values, pressure.values]).toEqual([[], [], []]);
    expect(countFds(isEventfd)).toBe(base - 3);
  });

  it("unsubscribing closes every fd it opened; a refused registration leaks none", () => {
    const { s, dir } = scratch();
    const all = (): number => countFds(() => true);
    const before = all();
    const beforeEfd = countFds(isEventfd);
    const subs = [
      record(v1OomWakes({ dir, cgroup: s.cgroup })),
      record(v1ThresholdWakes({ dir, cgroup: s.cgroup, thresholdBytes: 8 * MB })),
      record(v1ThresholdWakes({ dir, cgroup: s.cgroup, thresholdBytes: 8 * MB, swap: true })),
      record(v1PressureLevelWakes({ dir, cgroup: s.cgroup, level: "medium", mode: "hierarchy" })),
      record(
        reservationBreachWakes({ dir, cgroup: s.cgroup, softLimits: new Subject<number>().pipe(startWith(4 * MB)) }),
      ),
    ];
    for (const r of subs) expect(r.error).toBeUndefined();
    expect(countFds(isEventfd)).toBe(beforeEfd + 5);
    for (const r of subs) r.sub.unsubscribe();
    expect(countFds(isEventfd)).toBe(beforeEfd);
    expect(all()).toBe(before);
    // Refusals: bad pressure level argument (EINVAL) and a missing cgroup (ENOENT).
    const bad = record(v1EventfdTicks(dir, "memory.pressure_level", "extreme"));
    const gone = record(v1OomWakes({ dir: path.join(dir, "nope"), cgroup: "nope" }));
    const negative = record(v1ThresholdWakes({ dir, cgroup: s.cgroup, thresholdBytes: -1 }));
    expect(bad.error).toBeInstanceOf(NativeSourceError);
    expect(bad.error).toMatchObject({ kind: "open_failed", code: "EINVAL" });
    expect(gone.error).toMatchObject({ kind: "open_failed", code: "ENOENT" });
    expect(negative.error).toMatchObject({ kind: "invalid_argument" });
    expect(all()).toBe(before);
  });
});
