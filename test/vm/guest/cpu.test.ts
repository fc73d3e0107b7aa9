/**
 * CPU on a real v2 kernel: cpu.max throttling seen by cgwatch's cpu.stat
 * poll as cpu_throttled, CPU pressure raising a PSI trigger (through the
 * watch loop and through the native source on its own, fds checked), and
 * the executor lifting the quota and adding burst as a rescue would.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { psiTriggerGuestCheck } from "../../native/psiGuest.js";
import { GuestCgroup, assertInGuest, guestExecutor, watchCgroups, type WatchLog } from "./guest.js";

assertInGuest();

const EVENT_TIMEOUT = 120_000;

void describe("cpu.max throttling", () => {
  const cg = new GuestCgroup("cpu");
  let log: WatchLog;
  before(async () => {
    cg.write("cpu.max", "10000 100000"); // 0.1 core
    log = watchCgroups([cg.cgroup], { pollIntervalMs: 500, psiTriggers: { cpu: "some 50000 1000000" } });
    await log.ready;
  });
  after(async () => {
    log.stop();
    await cg.remove();
  });

  void it("is detected as cpu_throttled from cpu.stat, agreeing with the kernel", async () => {
    const hog = cg.cpuHog(90_000);
    const ev = await log.next(
      "cpu_throttled",
      (e) => e.throttledPeriods.after > e.throttledPeriods.before,
      EVENT_TIMEOUT,
    );
    assert.equal(ev.source, "poll");
    assert.ok(ev.ratio > 0 && ev.ratio <= 1, `ratio ${ev.ratio}`);
    assert.ok(ev.throttledSeconds.after > ev.throttledSeconds.before);
    // The kernel's cpu.stat has counted at least as much by now.
    assert.ok(cg.counter("cpu.stat", "nr_throttled") >= ev.throttledPeriods.after);
    assert.ok(cg.counter("cpu.stat", "throttled_usec") / 1e6 >= ev.throttledSeconds.after - 1e-6);
    const pressure = await log.next("cpu_pressure", () => true, EVENT_TIMEOUT);
    assert.equal(pressure.source, "psi");
    assert.equal(pressure.resource, "cpu");
    hog.kill();
    await hog.exited;
    assert.deepEqual(log.problems, []);
  });

  void it("is relieved by the executor raising cpu.max and cpu.max.burst", () => {
    const ex = guestExecutor();
    const quota = ex.run(cg.cgroup, { kind: "set_cpu_quota", quotaUs: 40000 });
    assert.equal(quota.kind, "applied", JSON.stringify(quota));
    assert.equal(cg.read("cpu.max").trim(), "40000 100000");
    const burst = ex.run(cg.cgroup, { kind: "set_cpu_burst", burstUs: 20000 });
    assert.equal(burst.kind, "applied", JSON.stringify(burst));
    assert.equal(cg.read("cpu.max.burst").trim(), "20000");
    // A jump beyond the step guardrail (x4) is refused before any write.
    const tooFar = ex.run(cg.cgroup, { kind: "set_cpu_quota", quotaUs: 1_000_000 });
    assert.equal(tooFar.kind, "rejected", JSON.stringify(tooFar));
    assert.equal(cg.read("cpu.max").trim(), "40000 100000");
  });
});

void describe("PSI trigger on cpu.pressure (native source alone)", () => {
  const cg = new GuestCgroup("cpupsi");
  after(() => cg.remove());

  void it("fires under a throttled busy loop and closes its fd afterwards", async () => {
    cg.write("cpu.max", "10000 100000");
    const r = await psiTriggerGuestCheck({
      dir: cg.dir,
      cgroup: cg.cgroup,
      resource: "cpu",
      trigger: "some 50000 1000000",
      startLoad: () => cg.cpuHog(90_000).child,
      timeoutMs: EVENT_TIMEOUT,
    });
    assert.equal(r.kind, "fired", JSON.stringify(r));
    assert.equal(r.fdsClosed, true);
  });
});
