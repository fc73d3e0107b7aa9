/**
 * Memory on a real v2 kernel, through cgwatch's own watch loop (discovery →
 * tracker → fs.watch inotify on memory.events / cgroup.events, PSI triggers
 * through the native addon). The kernel's files are the ground truth: every
 * event's counter must agree with what memory.events says afterwards.
 * The safety-net sweep is off, so an event can only come from a notification.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GuestCgroup, assertInGuest, watchCgroups, type WatchLog } from "./guest.js";

assertInGuest();

const MiB = 1024 * 1024;
const EVENT_TIMEOUT = 120_000;

void describe("memory.events through inotify", () => {
  void describe("an OOM kill under memory.max", () => {
    const cg = new GuestCgroup("oom");
    let log: WatchLog;
    before(async () => {
      cg.write("memory.max", String(32 * MiB));
      log = watchCgroups([cg.cgroup]);
      await log.ready;
    });
    after(async () => {
      log.stop();
      await cg.remove();
    });

    void it("raises memory_max, oom and oom_kill from inotify, with the kernel's counts", async () => {
      const hog = cg.memoryHog(128, 30);
      const exit = await hog.exited;
      assert.equal(exit.signal, "SIGKILL", `hog should be OOM-killed, got ${JSON.stringify(exit)} ${hog.stderr}`);
      assert.equal(hog.timedOut, false);
      const kernel = cg.keyed("memory.events");
      assert.ok((kernel.get("oom_kill") ?? 0) >= 1, `kernel memory.events: ${cg.read("memory.events")}`);
      const kill = await log.next("oom_kill", (e) => e.counter.after === kernel.get("oom_kill"), EVENT_TIMEOUT);
      const oom = await log.next("oom", (e) => e.counter.after >= 1, EVENT_TIMEOUT);
      const max = await log.next("memory_max", (e) => e.counter.after >= 1, EVENT_TIMEOUT);
      for (const e of [kill, oom, max]) assert.equal(e.source, "inotify", `${e.kind} came from ${e.source}`);
      assert.equal(kill.cgroup, cg.cgroup);
      assert.equal(kill.counter.before, 0);
      // Never more than the kernel counted: events are deltas of re-reads, not notification counts.
      const kills = log.events.filter((e) => e.kind === "oom_kill");
      const total = kills.reduce((n, e) => n + (e.kind === "oom_kill" ? e.counter.after - e.counter.before : 0), 0);
      assert.equal(total, kernel.get("oom_kill"));
      assert.deepEqual(log.problems, []);
    });
  });

  void describe("memory.high breached without swap", () => {
    const cg = new GuestCgroup("high");
    let log: WatchLog;
    before(async () => {
      cg.write("memory.high", String(16 * MiB));
      // A PSI trigger armed by the watcher itself, like the daemon's config would.
      log = watchCgroups([cg.cgroup], { psiTriggers: { memory: "some 20000 1000000" } });
      await log.ready;
    });
    after(async () => {
      log.stop();
      await cg.remove();
    });

    void it("raises memory_high from inotify and memory_pressure from a PSI trigger while the hog is throttled", async () => {
      // Anonymous memory above memory.high with no swap (the guest has none) is throttled, not killed:
      // the hog stalls, so it is bounded by its timeout and removed afterwards.
      const hog = cg.memoryHog(48, 60, 90_000);
      const high = await log.next("memory_high", (e) => e.counter.after > 0, EVENT_TIMEOUT);
      assert.equal(high.source, "inotify");
      const pressure = await log.next("memory_pressure", () => true, EVENT_TIMEOUT);
      assert.equal(pressure.source, "psi");
      assert.equal(pressure.trigger, "some 20000 1000000");
      assert.equal(typeof pressure.someAvg10, "number");
      hog.kill();
      await hog.exited;
      // Ground truth: the kernel counted at least what the event reported, and PSI saw a stall.
      assert.ok(cg.counter("memory.events", "high") >= high.counter.after);
      assert.ok(cg.counter("memory.events", "oom_kill") === 0, "memory.high must throttle, not kill");
      assert.match(cg.read("memory.pressure"), /^some .* total=[1-9]\d*$/m);
      assert.deepEqual(log.problems, []);
    });
  });

  void describe("memory.oom.group", () => {
    const cg = new GuestCgroup("oomgroup");
    let log: WatchLog;
    before(async () => {
      cg.write("memory.max", String(32 * MiB));
      cg.write("memory.oom.group", "1");
      log = watchCgroups([cg.cgroup]);
      await log.ready;
    });
    after(async () => {
      log.stop();
      await cg.remove();
    });

    void it("kills the whole cgroup on OOM and cgwatch reports oom_group_kill", async () => {
      const bystander = cg.spawn("/bin/sleep", ["300"]);
      const hog = cg.memoryHog(128, 30);
      const [h, b] = await Promise.all([hog.exited, bystander.exited]);
      assert.equal(h.signal, "SIGKILL");
      assert.equal(b.signal, "SIGKILL", "oom.group must take the bystander down with the hog");
      const groupKills = cg.counter("memory.events", "oom_group_kill");
      assert.ok(groupKills >= 1, cg.read("memory.events"));
      const ev = await log.next("oom_group_kill", (e) => e.counter.after === groupKills, EVENT_TIMEOUT);
      assert.equal(ev.source, "inotify");
      assert.deepEqual(log.problems, []);
    });
  });
});
