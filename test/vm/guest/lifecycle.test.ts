/**
 * pids.max and the cgroup lifecycle on a real v2 kernel: pids.events through
 * inotify as pids_max; cgroup.events `populated` followed by the watch loop;
 * removal ending the cgroup's sources (cgroup_removed, tracker gone, PSI
 * trigger completing with its fd closed).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { GuestCgroup, TEST_PARENT, V2_ROOT, assertInGuest, waitFor, watchCgroups, type WatchLog } from "./guest.js";

assertInGuest();

const EVENT_TIMEOUT = 120_000;

/**
 * How many of this process's fds hold a PSI trigger on `file`: open O_RDWR
 * (the tracker's reader keeps its own O_RDONLY fd on the same file). A
 * removed file's link may gain " (deleted)".
 */
function fdsOn(file: string): number {
  let n = 0;
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      if (!fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(file)) continue;
      const flags = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1];
      if (flags !== undefined && (parseInt(flags, 8) & 3) === 2) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

void describe("pids.max through pids.events", () => {
  const cg = new GuestCgroup("pids");
  let log: WatchLog;
  before(async () => {
    cg.write("pids.max", "4");
    log = watchCgroups([cg.cgroup]);
    await log.ready;
  });
  after(async () => {
    log.stop();
    await cg.remove();
  });

  void it("raises pids_max from inotify with the kernel's count", async () => {
    // A shell forking 8 sleepers into a cgroup that allows 4 tasks: forks fail with EAGAIN.
    const forker = cg.spawn("/bin/sh", ["-c", "for i in 1 2 3 4 5 6 7 8; do /bin/sleep 300 & done; wait"], 90_000);
    await log.next("pids_max", (e) => e.counter.after > 0, EVENT_TIMEOUT);
    assert.ok(cg.pids().length <= 4, `pids.max=4 but ${cg.pids().length} tasks`);
    cg.write("cgroup.kill", "1");
    await forker.exited;
    await waitFor(() => cg.counter("cgroup.events", "populated") === 0, 60_000, "cgroup to empty");
    const kernel = cg.counter("pids.events", "max");
    assert.ok(kernel >= 1);
    const last = await log.next("pids_max", (e) => e.counter.after === kernel, EVENT_TIMEOUT);
    assert.equal(last.source, "inotify");
    assert.deepEqual(log.problems, []);
  });
});

void describe("cgroup.events populated, and removal", () => {
  let log: WatchLog;
  const pattern = `${TEST_PARENT}/life-*`;
  before(async () => {
    fs.mkdirSync(path.join(V2_ROOT, TEST_PARENT), { recursive: true });
    log = watchCgroups([pattern]);
    await log.ready;
  });
  after(() => log.stop());

  void it("discovers a new cgroup, follows populated through cgroup.events, and reports its removal", async () => {
    const cg = new GuestCgroup("life");
    await log.next("cgroup_added", (e) => e.cgroup === cg.cgroup, EVENT_TIMEOUT);
    // Ground truth: the kernel raises IN_MODIFY on cgroup.events when populated flips.
    const raw: string[] = [];
    const w = fs.watch(cg.file("cgroup.events"), () => raw.push(cg.read("cgroup.events")));
    try {
      const sleeper = cg.spawn("/bin/sleep", ["300"]);
      await waitFor(
        () => log.trackers.get(cg.cgroup)?.counters.populated === true,
        EVENT_TIMEOUT,
        "cgwatch to see populated 1",
      );
      sleeper.kill();
      await sleeper.exited;
      await waitFor(
        () => log.trackers.get(cg.cgroup)?.counters.populated === false,
        EVENT_TIMEOUT,
        "cgwatch to see populated 0",
      );
      await waitFor(
        () => raw.some((t) => /populated 0/.test(t)),
        EVENT_TIMEOUT,
        "a raw inotify event with populated 0",
      );
    } finally {
      w.close();
    }
    await cg.remove();
    const removed = await log.next("cgroup_removed", (e) => e.cgroup === cg.cgroup, EVENT_TIMEOUT);
    assert.equal(removed.cgroup, cg.cgroup);
    await waitFor(() => !log.trackers.has(cg.cgroup), EVENT_TIMEOUT, "the tracker to be dropped");
    assert.deepEqual(log.problems, []);
  });

  void it("closes the cgroup's PSI trigger fd when the cgroup is removed", async () => {
    // Kernel 6.1 does NOT wake a PSI trigger with POLLERR when its cgroup is
    // removed (newer kernels do): cgwatch must not rely on it. The watch loop
    // ends a removed cgroup's sources on discovery's IN_DELETE instead.
    const psiLog = watchCgroups([`${TEST_PARENT}/lifepsi-*`], { psiTriggers: { memory: "some 100000 2000000" } });
    try {
      await psiLog.ready;
      const cg = new GuestCgroup("lifepsi");
      const pressure = cg.file("memory.pressure");
      await psiLog.next("cgroup_added", (e) => e.cgroup === cg.cgroup, EVENT_TIMEOUT);
      await waitFor(() => fdsOn(pressure) === 1, EVENT_TIMEOUT, "the watch loop to arm a PSI trigger fd");
      await cg.remove();
      await psiLog.next("cgroup_removed", (e) => e.cgroup === cg.cgroup, EVENT_TIMEOUT);
      await waitFor(() => fdsOn(pressure) === 0, EVENT_TIMEOUT, "the PSI trigger fd to be closed");
      // 6.1 wakes the trigger while rmdir drains the cgroup's open files: that is no pressure.
      assert.deepEqual(
        psiLog.events.filter((e) => e.kind === "memory_pressure"),
        [],
      );
      assert.deepEqual(psiLog.problems, []);
    } finally {
      psiLog.stop();
    }
  });
});
