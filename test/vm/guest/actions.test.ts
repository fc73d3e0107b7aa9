/**
 * cgwatch's action executor against real v2 files: the kernel accepts what
 * the v2 mapping writes (read back from the kernel, not from the executor),
 * refuses what v2 cannot do with a reason an operator understands, and the
 * v2 core files (cgroup.kill) really act.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import { after, describe, it } from "node:test";
import { protectSelf } from "../../../src/actions/selfProtection.js";
import { createGuardedWriter } from "../../../src/cgroup/writer.js";
import { GuestCgroup, assertInGuest, guestExecutor, v2Layout, waitFor } from "./guest.js";

assertInGuest();

const MiB = 1024 * 1024;

void describe("action executor on cgroup v2", () => {
  const cg = new GuestCgroup("actions");
  const ex = guestExecutor();
  after(() => cg.remove());

  void it("rejects swappiness: v2 has no per-cgroup swappiness, and says so", () => {
    const out = ex.run(cg.cgroup, { kind: "set_swappiness", value: 10 });
    assert.equal(out.kind, "rejected", JSON.stringify(out));
    assert.ok(out.kind === "rejected");
    assert.equal(out.guardrail, "unsupported");
    assert.match(out.reason, /v2.*swappiness/i);
    const line = ex.logLines.at(-1);
    assert.equal(line?.["outcome"], "rejected");
    assert.match(String(line?.["reason"]), /swappiness/);
  });

  void it("raises memory.max and memory.high as the kernel reads them back", () => {
    cg.write("memory.max", String(64 * MiB));
    cg.write("memory.high", String(48 * MiB));
    const max = ex.run(cg.cgroup, { kind: "set_memory_limit", bytes: 96 * MiB });
    assert.equal(max.kind, "applied", JSON.stringify(max));
    assert.equal(cg.read("memory.max").trim(), String(96 * MiB));
    const high = ex.run(cg.cgroup, { kind: "set_memory_high", bytes: 80 * MiB });
    assert.equal(high.kind, "applied", JSON.stringify(high));
    assert.equal(cg.read("memory.high").trim(), String(80 * MiB));
  });

  void it("sets cpu.max and cpu.max.burst, and memory.oom.group, pids.max", () => {
    cg.write("cpu.max", "20000 100000");
    const quota = ex.run(cg.cgroup, { kind: "set_cpu_quota", quotaUs: 50000, periodUs: 100000 });
    assert.equal(quota.kind, "applied", JSON.stringify(quota));
    assert.equal(cg.read("cpu.max").trim(), "50000 100000");
    const burst = ex.run(cg.cgroup, { kind: "set_cpu_burst", burstUs: 25000 });
    assert.equal(burst.kind, "applied", JSON.stringify(burst));
    assert.equal(cg.read("cpu.max.burst").trim(), "25000");
    assert.equal(ex.run(cg.cgroup, { kind: "set_oom_group", enable: true }).kind, "applied");
    assert.equal(cg.read("memory.oom.group").trim(), "1");
    assert.equal(ex.run(cg.cgroup, { kind: "set_pids_max", max: 64 }).kind, "applied");
    assert.equal(cg.read("pids.max").trim(), "64");
  });

  void it("the kernel refuses a burst above the quota with EINVAL through the guarded writer (failed, never a throw); the executor says why before trying", () => {
    cg.write("cpu.max", "50000 100000");
    // The kernel requires burst <= quota (tg_set_cfs_bandwidth): EINVAL. The
    // executor's plan refuses this first, so the kernel's answer is asked
    // through the writer itself: both must hold, no branch may skip either.
    const writer = createGuardedWriter(v2Layout(), "/proc");
    const written = writer.write(
      { kind: "cgroup_file", cgroup: cg.cgroup, controller: "cpu", file: "cpu.max.burst" },
      "90000",
    );
    assert.equal(written.kind, "failed", JSON.stringify(written));
    assert.ok(written.kind === "failed");
    assert.equal(written.errno, "EINVAL");
    assert.match(written.reason, /EINVAL \(the kernel rejected the value/);
    assert.equal(cg.read("cpu.max.burst").trim(), "25000", "a refused write leaves the kernel value alone");
    const out = ex.run(cg.cgroup, { kind: "set_cpu_burst", burstUs: 90000 });
    assert.equal(out.kind, "rejected", JSON.stringify(out));
    assert.ok(out.kind === "rejected");
    assert.equal(out.guardrail, "unsupported");
    assert.match(out.reason, /burst <= quota/);
    assert.equal(cg.read("cpu.max.burst").trim(), "25000");
  });

  void it("self-protection lowers a process's oom_score_adj to -1000 through the writer and the kernel reads it back", async () => {
    // Lowering oom_score_adj needs CAP_SYS_RESOURCE, which the host's bounding
    // set lacks even for root; the guest's root holds it, so the read-back runs here.
    const kid = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const pid = kid.pid ?? -1;
      await waitFor(() => fs.existsSync(`/proc/${pid}/oom_score_adj`), 5_000, "the sleeper");
      // a child stands in for cgwatch: the guest runner's own score stays untouched
      const outcome = protectSelf({ procRoot: "/proc", pid });
      assert.equal(outcome.kind, "applied", JSON.stringify(outcome));
      assert.equal(fs.readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim(), "-1000");
    } finally {
      kid.kill("SIGKILL");
    }
  });

  void it("never touches the root cgroup", () => {
    const out = ex.run("", { kind: "set_memory_limit", bytes: 512 * MiB });
    assert.equal(out.kind, "rejected");
    assert.ok(out.kind === "rejected");
    assert.equal(out.guardrail, "protected_cgroup");
  });

  void it("kills every process through cgroup.kill", async () => {
    const a = cg.spawn("/bin/sleep", ["300"]);
    const b = cg.cpuHog();
    await waitFor(() => cg.pids().length === 2, 60_000, "both processes in the cgroup");
    const out = ex.run(cg.cgroup, { kind: "kill" });
    assert.equal(out.kind, "applied", JSON.stringify(out));
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    assert.equal(ea.signal, "SIGKILL");
    assert.equal(eb.signal, "SIGKILL");
    await waitFor(() => cg.counter("cgroup.events", "populated") === 0, 60_000, "cgroup to empty");
  });
});
