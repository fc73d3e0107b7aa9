/**
 * The whole watch pipeline against a fake cgroupfs: real inotify on ordinary
 * files, counters written the way the kernel presents them.
 */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createFileReader, type FileReader } from "../../src/cgroup/read.js";
import type { WatchdogEvent } from "../../src/events/types.js";
import { createWatcher, type WatchOptions } from "../../src/watch/watcher.js";
import { collect, sleep } from "../helpers/collect.js";
import { until } from "../helpers/daemonHarness.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";

const memEvents = (
  c: Partial<Record<"low" | "high" | "max" | "oom" | "oom_kill" | "oom_group_kill", number>>,
): string =>
  `low ${c.low ?? 0}\nhigh ${c.high ?? 0}\nmax ${c.max ?? 0}\noom ${c.oom ?? 0}\noom_kill ${c.oom_kill ?? 0}\noom_group_kill ${c.oom_group_kill ?? 0}\n`;

let host: FakeHost | null = null;
afterEach(() => {
  host?.cleanup();
  host = null;
});

/**
 * A watcher over the fake host, with zero intervals unless the test sets
 * them; extra options pass through. `reads(path)` counts the reads of a file
 * through the kept-fd path, so a test can wait for "a poll happened" instead
 * of sleeping.
 */
function start(
  h: FakeHost,
  patterns: string[],
  extra: Partial<Omit<WatchOptions, "layout" | "reader" | "patterns">> = {},
) {
  const base = createFileReader();
  const counts = new Map<string, number>();
  const reader: FileReader = {
    read: (p) => {
      counts.set(p, (counts.get(p) ?? 0) + 1);
      return base.read(p);
    },
    readOnce: (p) => base.readOnce(p),
    readOnceIn: (d, n) => base.readOnceIn(d, n),
    forget: (p) => base.forget(p),
    forgetDir: (d) => base.forgetDir(d),
    close: () => base.close(),
    get openCount() {
      return base.openCount;
    },
  };
  const watcher = createWatcher({
    layout: h.layout,
    reader,
    patterns,
    pollIntervalMs: 0,
    safetyNetIntervalMs: 0,
    persistent: false,
    ...extra,
  });
  const c = collect(watcher.events$);
  return {
    watcher,
    reader,
    c,
    reads: (p: string) => counts.get(p) ?? 0,
    stop: () => (c.sub.unsubscribe(), reader.close()),
  };
}

const kinds = (es: WatchdogEvent[]): string[] => es.map((e) => `${e.kind}:${e.cgroup}`);

describe("watch pipeline on a fake v2 cgroupfs", () => {
  it("discovers matching cgroups only, then reports ready", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/a");
    host.addCgroup("docker/b");
    host.addCgroup("system.slice");
    host.addCgroup("system.slice/nginx.service");
    host.addCgroup("system.slice/nginx.socket");
    const { watcher, c, stop } = start(host, ["docker/*", "system.slice/*.service"]);
    expect(await watcher.ready).toBe(3);
    expect(kinds(c.values.filter((e) => e.kind === "cgroup_added")).sort()).toEqual([
      "cgroup_added:docker/a",
      "cgroup_added:docker/b",
      "cgroup_added:system.slice/nginx.service",
    ]);
    expect(watcher.notifierOf("docker/a")).toBe("inotify");
    stop();
  });

  it("several increments behind one notification yield one event per key with the whole delta", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/a");
    const { watcher, c, stop } = start(host, ["docker/*"]);
    await watcher.ready;
    // The kernel bumped max 3 times, oom twice and oom_kill twice before we read.
    host.write("docker/a", "memory.events", memEvents({ max: 3, oom: 2, oom_kill: 2 }));
    const got = await c.until((vs) => vs.some((e) => e.kind === "oom_kill"));
    const counterEvents = got.filter((e) => e.kind === "memory_max" || e.kind === "oom" || e.kind === "oom_kill");
    expect(counterEvents.map((e) => [e.kind, "counter" in e ? e.counter : null, e.source])).toEqual([
      ["memory_max", { before: 0, after: 3 }, "inotify"],
      ["oom", { before: 0, after: 2 }, "inotify"],
      ["oom_kill", { before: 0, after: 2 }, "inotify"],
    ]);
    // A notification that changed nothing (e.g. a second IN_MODIFY for the same write) emits nothing.
    host.write("docker/a", "memory.events", memEvents({ max: 3, oom: 2, oom_kill: 2 }));
    host.write("docker/a", "memory.events", memEvents({ max: 3, oom: 2, oom_kill: 3 }));
    await c.until((vs) => vs.filter((e) => e.kind === "oom_kill").length === 2);
    // A sentinel change: once its event is in, any duplicate of the earlier
    // ones would be too (one file, one ordered stream of reads).
    host.write("docker/a", "memory.events", memEvents({ max: 4, oom: 2, oom_kill: 3 }));
    await c.until((vs) => vs.some((e) => e.kind === "memory_max" && "counter" in e && e.counter.after === 4));
    const kills = c.values.filter((e) => e.kind === "oom_kill");
    expect(kills.map((e) => ("counter" in e ? e.counter : null))).toEqual([
      { before: 0, after: 2 },
      { before: 2, after: 3 },
    ]);
    stop();
  });

  it("mkdir and rmdir are discovered, and the removed cgroup's tracker is dropped", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    const { watcher, c, stop } = start(host, ["docker/*"]);
    expect(await watcher.ready).toBe(0);
    host.addCgroup("docker/new");
    await c.until((vs) => vs.some((e) => e.kind === "cgroup_added" && e.cgroup === "docker/new"));
    expect(watcher.trackers.has("docker/new")).toBe(true);
    host.removeCgroup("docker/new");
    const got = await c.until((vs) => vs.some((e) => e.kind === "cgroup_removed"));
    expect(kinds(got).filter((k) => k.endsWith("docker/new"))).toEqual([
      "cgroup_added:docker/new",
      "cgroup_removed:docker/new",
    ]);
    expect(watcher.trackers.has("docker/new")).toBe(false);
    stop();
  });

  it("a cgroup born while watched is diffed from 0: an OOM kill or refused fork before its first read still counts", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/old", { "memory.events": memEvents({ oom_kill: 4 }), "pids.events": "max 2\n" });
    const { watcher, c, stop } = start(host, ["docker/*"]);
    await watcher.ready;
    // A container an engine started under load: killed and fork-limited
    // before cgwatch read its files for the first time.
    host.addCgroup("docker/new", { "memory.events": memEvents({ oom_kill: 1 }), "pids.events": "max 3\n" });
    const got = await c.until(
      (vs) =>
        vs.some((e) => e.kind === "pids_max" && e.cgroup === "docker/new") &&
        vs.some((e) => e.kind === "oom_kill" && e.cgroup === "docker/new"),
    );
    const counted = got
      .filter((e) => e.cgroup === "docker/new" && (e.kind === "oom_kill" || e.kind === "pids_max"))
      .map((e) => ("counter" in e ? [e.kind, e.counter.before, e.counter.after] : []));
    expect(counted).toEqual([
      ["oom_kill", 0, 1],
      ["pids_max", 0, 3],
    ]);
    // A cgroup that existed at start keeps its history as the baseline.
    expect(got.filter((e) => e.cgroup === "docker/old" && e.kind !== "cgroup_added")).toEqual([]);
    stop();
  });

  it("a malformed file is reported and does not end the stream or move the baseline", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/a");
    const problems: string[] = [];
    const { watcher, c, stop } = start(host, ["docker/*"], {
      onProblem: (p) => problems.push(`${p.cgroup} ${p.file}: ${p.reason}`),
    });
    await watcher.ready;
    host.write("docker/a", "memory.events", "low 0\nhigh 0\nmax 1");
    await until(() => problems.length > 0, 20_000, "the malformed read to be reported");
    host.write("docker/a", "memory.events", memEvents({ max: 1, oom_kill: 1 }));
    const got = await c.until((vs) => vs.some((e) => e.kind === "oom_kill"));
    expect(problems[0]).toMatch(/docker\/a memory.events: missing key "oom"/);
    expect(got.filter((e) => e.kind === "memory_max").map((e) => ("counter" in e ? e.counter : null))).toEqual([
      { before: 0, after: 1 },
    ]);
    stop();
  });
});

describe("watch pipeline on a fake v1 cgroupfs (polling, no eventfd)", () => {
  it("under_oom edges, oom_kill delta, failcnt as memory_max, pids_max, cpu throttling", async () => {
    host = fakeHost(1);
    host.addCgroup("docker");
    host.addCgroup("docker/a", { "cpu.cfs_quota_us": "20000\n" });
    const { watcher, c, stop } = start(host, ["docker/*"], { pollIntervalMs: 20 });
    await watcher.ready;
    expect(watcher.notifierOf("docker/a")).toBe("poll");
    host.write("docker/a", "memory.oom_control", "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n");
    await c.until((vs) => vs.some((e) => e.kind === "under_oom"));
    host.write("docker/a", "memory.oom_control", "oom_kill_disable 1\nunder_oom 0\noom_kill 2\n");
    host.write("docker/a", "memory.failcnt", "7\n");
    host.write("docker/a", "pids.events", "max 4\n");
    host.write("docker/a", "cpu.stat", "nr_periods 10\nnr_throttled 5\nthrottled_time 250000000\n");
    const got = await c.until(
      (vs) =>
        ["oom_kill", "memory_max", "pids_max", "cpu_throttled"].every((k) => vs.some((e) => e.kind === k)) &&
        vs.filter((e) => e.kind === "under_oom").length === 2,
    );
    const under = got.filter((e) => e.kind === "under_oom");
    expect(under.map((e) => (e.kind === "under_oom" ? [e.underOom, e.oomKillDisable] : null))).toEqual([
      [true, true],
      [false, true],
    ]);
    const thr = got.find((e) => e.kind === "cpu_throttled");
    expect(
      thr?.kind === "cpu_throttled" ? [thr.ratio, thr.throttledSeconds.after - thr.throttledSeconds.before] : null,
    ).toEqual([0.5, 0.25]);
    expect(got.find((e) => e.kind === "oom_kill")).toMatchObject({ counter: { before: 0, after: 2 }, source: "poll" });
    expect(got.find((e) => e.kind === "memory_max")).toMatchObject({ counter: { before: 0, after: 7 } });
    expect(got.find((e) => e.kind === "pids_max")).toMatchObject({ counter: { before: 0, after: 4 } });
    stop();
  });

  it("the safety net catches a change no notification reported", async () => {
    host = fakeHost(1);
    host.addCgroup("docker");
    host.addCgroup("docker/a");
    // No eventfd and no fast poll: only the safety net re-reads.
    const { watcher, c, stop } = start(host, ["docker/*"], { safetyNetIntervalMs: 50 });
    await watcher.ready;
    host.write("docker/a", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    const got = await c.until((vs) => vs.some((e) => e.kind === "oom_kill"));
    expect(got.find((e) => e.kind === "oom_kill")).toMatchObject({ source: "poll", counter: { before: 0, after: 1 } });
    stop();
  });

  it("removal does one final read first: an OOM kill no notification or poll reported is emitted before cgroup_removed", async () => {
    host = fakeHost(1);
    host.addCgroup("docker");
    host.addCgroup("docker/a");
    // No poll, no safety net, no eventfd: after the baseline only the final read can see the kill.
    const { watcher, c, stop } = start(host, ["docker/*"]);
    await watcher.ready;
    // The kernel bumps oom_kill, then the cgroup goes. The reader keeps the
    // baseline's fd, so the removed file's last content is still readable,
    // as a kept fd on kernfs reads the dying cgroup's counters.
    host.write("docker/a", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    host.removeCgroup("docker/a");
    const got = await c.until((vs) => vs.some((e) => e.kind === "cgroup_removed"));
    expect(got.filter((e) => e.cgroup === "docker/a").map((e) => e.kind)).toEqual([
      "cgroup_added",
      "oom_kill",
      "cgroup_removed",
    ]);
    expect(got.find((e) => e.kind === "oom_kill")).toMatchObject({ counter: { before: 0, after: 1 } });
    stop();
  });

  it("cpu.stat is polled only for cgroups with a quota on themselves or an ancestor", async () => {
    host = fakeHost(1);
    host.addCgroup("parent", { "cpu.cfs_quota_us": "50000\n" });
    host.addCgroup("parent/child");
    host.addCgroup("free");
    const { watcher, stop } = start(host, ["*", "*/*"]);
    await watcher.ready;
    expect(watcher.trackers.get("parent/child")?.hasCpuQuota()).toBe(true);
    expect(watcher.trackers.get("parent")?.hasCpuQuota()).toBe(true);
    expect(watcher.trackers.get("free")?.hasCpuQuota()).toBe(false);
    stop();
  });

  it("a cgroup that vanishes mid-read ends quietly with one final event", async () => {
    host = fakeHost(1);
    host.addCgroup("docker");
    host.addCgroup("docker/a");
    host.addCgroup("docker/b");
    const errors: unknown[] = [];
    const { watcher, c, reads, stop } = start(host, ["docker/*"], {
      pollIntervalMs: 5,
      safetyNetIntervalMs: 5,
      onSourceError: (_c, _s, e) => errors.push(e),
    });
    await watcher.ready;
    const oomA = host.file("docker/a", "memory.oom_control");
    const oomB = host.file("docker/b", "memory.oom_control");
    /** Waits for `n` more polls of a file: the condition, not a guess at how long polls take. */
    const polls = async (file: string, n: number): Promise<void> => {
      const target = reads(file) + n;
      await until(() => reads(file) >= target, 20_000, `${n} polls of ${file}`);
    };
    await polls(oomA, 2);
    // Files disappear first, the directories after.
    for (const f of ["memory.oom_control", "memory.failcnt", "memory.usage_in_bytes"])
      fs.rmSync(host.file("docker/a", f));
    await polls(oomA, 2);
    host.removeCgroup("docker/a");
    const got = await c.until((vs) => vs.some((e) => e.kind === "cgroup_removed"));
    expect(got.filter((e) => e.kind === "cgroup_removed")).toHaveLength(1);
    // The polls go on for docker/b; none of them says anything more about docker/a.
    await polls(oomB, 3);
    expect(errors).toEqual([]);
    expect(c.values.filter((e) => e.cgroup === "docker/a").at(-1)?.kind).toBe("cgroup_removed");
    stop();
  });
});

describe("notification storms", () => {
  it("when a storm of wakes calms down, a catch-up safety sweep runs at once", async () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/a");
    let storms = 0;
    const { watcher, c, stop } = start(host, ["docker/*"], {
      // No periodic safety net: only the catch-up can run. A low threshold, so that even a loaded CI box sees a "storm" within one 1 s window.
      stormThreshold: 5,
      onStorm: () => storms++,
    });
    await watcher.ready;
    for (let i = 1; i <= 60; i++) {
      host.write("docker/a", "memory.events", memEvents({ max: i }));
      await sleep(5); // pacing: separate writes, separate wakes (not a synchronisation)
    }
    await until(() => storms > 0, 20_000, "the catch-up sweep");
    // A loaded machine may split the writes into two storms: at least one catch-up, each after a storm.
    expect(storms).toBeGreaterThanOrEqual(1);
    // Every increment was seen (the queue never overflowed here), and nothing twice.
    const maxes = c.values.filter((e) => e.kind === "memory_max");
    expect(maxes.at(-1)).toMatchObject({ counter: { after: 60 } });
    expect(maxes.reduce((n, e) => n + ("counter" in e ? e.counter.after - e.counter.before : 0), 0)).toBe(60);
    stop();
  });
});

describe("a v1 stall under OOM on a fake cgroupfs (the poll path: no eventfd)", () => {
  it("is re-offered while it lasts, backing off from stallReofferMs, and its recovery is an event that ends the re-offers", async () => {
    host = fakeHost(1);
    host.addCgroup("ctr", { "memory.oom_control": "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n" });
    const { watcher, c, stop } = start(host, ["ctr"], {
      native: null,
      stallReofferMs: 100,
      safetyNetIntervalMs: 600_000,
    });
    await watcher.ready;
    const stalls = (): WatchdogEvent[] => c.values.filter((e) => e.kind === "under_oom");
    await c.until(() => stalls().length >= 4, 10_000);
    const at = stalls().map((e) => e.at);
    // Timers never fire early: each re-offer comes at least 100, 200, 400 ms after the one before.
    for (let k = 1; k < 4; k++) expect((at[k] ?? 0) - (at[k - 1] ?? 0)).toBeGreaterThanOrEqual(100 * 2 ** (k - 1) - 1);
    expect(
      stalls()
        .slice(0, 4)
        .map((e) => (e.kind === "under_oom" ? [e.source, e.underOom] : null)),
    ).toEqual([
      ["poll", true],
      ["poll", true],
      ["poll", true],
      ["poll", true],
    ]);
    const stalledMs = stalls().map((e) => (e.kind === "under_oom" ? e.stalledMs : -1));
    expect(stalledMs[0]).toBe(0);
    expect(stalledMs[3]).toBeGreaterThanOrEqual(699);
    // Freed: the next re-offer's read finds the recovery, and nothing follows it.
    host.write("ctr", "memory.oom_control", "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n");
    await c.until((vs) => vs.some((e) => e.kind === "under_oom" && !e.underOom), 10_000);
    const n = stalls().length;
    await sleep(1000);
    expect(stalls()).toHaveLength(n);
    stop();
  });
});
