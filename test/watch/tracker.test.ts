import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createFileReader } from "../../src/cgroup/read.js";
import { createTracker } from "../../src/watch/tracker.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";

let host: FakeHost | null = null;
afterEach(() => {
  host?.cleanup();
  host = null;
});

/** Basenames of the files under `root` this process holds open (the reader's kept fds). */
function keptFiles(root: string): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${root}/`)) out.push(path.basename(target));
    } catch {
      /* closed meanwhile (readdir's own fd) */
    }
  }
  return out.sort();
}

describe("tracker", () => {
  it("kept fds go to the counters re-read on every wake: memory.events, not cpu.max, pids.events or cgroup.events", () => {
    host = fakeHost(2);
    for (const c of ["a", "b", "c"]) host.addCgroup(c, { "cpu.max": "50000 100000\n" });
    // A budget of three: with the settings and rare files kept too, a cgroup's memory.events would go one-shot.
    const reader = createFileReader({ maxOpen: 3 });
    const trackers = ["a", "b", "c"].map((cgroup) => createTracker({ layout: host!.layout, reader, cgroup }));
    for (const t of trackers) {
      t.refreshQuota();
      t.sweepCounters(0, "poll");
    }
    for (const t of trackers)
      t.handle({ kind: "file_changed", cgroup: t.cgroup, file: "cgroup.events", source: "inotify", at: 1 });
    expect(trackers.every((t) => t.hasCpuQuota())).toBe(true);
    expect(keptFiles(host.root)).toEqual(["memory.events", "memory.events", "memory.events"]);
    reader.close();
  });

  it("populated 1→0 re-reads memory.events at once, so the last OOM kill of an emptied cgroup is not lost", () => {
    host = fakeHost(2);
    host.addCgroup("a");
    const reader = createFileReader();
    const t = createTracker({ layout: host.layout, reader, cgroup: "a" });
    expect(t.sweepCounters(0, "poll")).toEqual([]); // baseline
    host.write("a", "memory.events", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\noom_group_kill 0\n");
    host.write("a", "cgroup.events", "populated 0\nfrozen 0\n");
    const events = t.handle({ kind: "file_changed", cgroup: "a", file: "cgroup.events", source: "inotify", at: 5 });
    expect(events.map((e) => e.kind)).toEqual(["memory_max", "oom", "oom_kill"]);
    reader.close();
  });

  it("an eventfd tick on a removed v1 cgroup is not an OOM", () => {
    host = fakeHost(1);
    host.addCgroup("a");
    const reader = createFileReader();
    const t = createTracker({ layout: host.layout, reader, cgroup: "a" });
    t.sweepCounters(0, "poll");
    host.removeCgroup("a");
    expect(
      t.handle({ kind: "file_changed", cgroup: "a", file: "memory.oom_control", source: "eventfd", at: 1 }),
    ).toEqual([]);
    reader.close();
  });

  it("a cgroup already under OOM when first seen is reported at once", () => {
    host = fakeHost(1);
    host.addCgroup("a", { "memory.oom_control": "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n" });
    const reader = createFileReader();
    const t = createTracker({ layout: host.layout, reader, cgroup: "a" });
    expect(t.sweepCounters(0, "poll")).toMatchObject([{ kind: "under_oom", underOom: true, oomKillDisable: true }]);
    reader.close();
  });

  it("a counter that went down (cgroup recreated under the same name) re-baselines without an event", () => {
    host = fakeHost(2);
    host.addCgroup("a", { "memory.events": "low 0\nhigh 0\nmax 9\noom 3\noom_kill 3\noom_group_kill 0\n" });
    const reader = createFileReader();
    const t = createTracker({ layout: host.layout, reader, cgroup: "a" });
    t.sweepCounters(0, "poll");
    host.write("a", "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
    expect(t.sweepCounters(1, "poll")).toEqual([]);
    host.write("a", "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\noom_group_kill 0\n");
    expect(t.sweepCounters(2, "poll")).toMatchObject([{ kind: "oom_kill", counter: { before: 0, after: 1 } }]);
    reader.close();
  });

  it("v1 reservation breach both directions from usage vs soft limit", () => {
    host = fakeHost(1);
    host.addCgroup("a", { "memory.soft_limit_in_bytes": "104857600\n", "memory.usage_in_bytes": "1048576\n" });
    const reader = createFileReader();
    const t = createTracker({ layout: host.layout, reader, cgroup: "a" });
    expect(t.sweepCounters(0, "poll")).toEqual([]);
    host.write("a", "memory.usage_in_bytes", "209715200\n");
    expect(t.handle({ kind: "threshold_crossed", cgroup: "a", thresholdBytes: 104857600, at: 1 })).toMatchObject([
      {
        kind: "reservation_breach",
        above: true,
        usageBytes: 209715200,
        reservationBytes: 104857600,
        source: "eventfd",
      },
    ]);
    host.write("a", "memory.usage_in_bytes", "1048576\n");
    expect(t.handle({ kind: "threshold_crossed", cgroup: "a", thresholdBytes: 104857600, at: 2 })).toMatchObject([
      { kind: "reservation_breach", above: false },
    ]);
    reader.close();
  });

  it("a v2 sample carries memory PSI avg10; a v1 sample carries none", () => {
    host = fakeHost(2);
    host.addCgroup("a", {
      "memory.pressure":
        "some avg10=12.50 avg60=3.00 avg300=1.00 total=99\nfull avg10=4.25 avg60=1.00 avg300=0.50 total=42\n",
    });
    const reader = createFileReader();
    expect(createTracker({ layout: host.layout, reader, cgroup: "a" }).sample(7)).toEqual({
      kind: "sample",
      cgroup: "a",
      at: 7,
      source: "poll",
      someAvg10: 12.5,
      fullAvg10: 4.25,
    });
    const v1 = fakeHost(1);
    v1.addCgroup("b");
    expect(createTracker({ layout: v1.layout, reader, cgroup: "b" }).sample(8)).toEqual({
      kind: "sample",
      cgroup: "b",
      at: 8,
      source: "poll",
    });
    v1.cleanup();
    reader.close();
  });

  it("a PSI wake is pressure only while the cgroup has tasks and its stall total grew over the window", () => {
    host = fakeHost(2);
    const psi = (some: number): string =>
      `some avg10=0.00 avg60=0.00 avg300=0.00 total=${some}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=${some / 2}\n`;
    host.addCgroup("a", { "memory.pressure": psi(1000), "cgroup.events": "populated 1\nfrozen 0\n" });
    const reader = createFileReader();
    const t = createTracker({ layout: host.layout, reader, cgroup: "a", pressureResources: ["memory"] });
    t.sweepCounters(0, "poll"); // the baseline, taken before the trigger is armed
    const wake = (at: number) =>
      t.handle({ kind: "psi_trigger", cgroup: "a", resource: "memory", trigger: "some 150000 1000000", at });
    host.write("a", "memory.pressure", psi(201_000));
    // avg10 still 0.00 (it lags); the total is the evidence.
    expect(wake(1_200)).toEqual([
      {
        kind: "memory_pressure",
        cgroup: "a",
        at: 1_200,
        source: "psi",
        resource: "memory",
        trigger: "some 150000 1000000",
        stall: { type: "some", stallUs: 200_000, overMs: 1_200, thresholdUs: 150_000, windowUs: 1_000_000 },
        someAvg10: 0,
        fullAvg10: 0,
      },
    ]);
    // The total did not move for a whole window since: a spurious wake.
    expect(wake(2_400)).toEqual([]);
    // An emptied cgroup (about to be removed), then a removed one: no event.
    host.write("a", "memory.pressure", psi(400_000));
    host.write("a", "cgroup.events", "populated 0\nfrozen 0\n");
    expect(wake(3_000)).toEqual([]);
    host.removeCgroup("a");
    expect(wake(3_100)).toEqual([]);
    reader.close();
  });
});
