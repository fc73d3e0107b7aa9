/**
 * OOM victim attribution on a real v2 kernel: /dev/kmsg read from its end,
 * the kernel's report of an OOM kill under memory.max paired into a victim
 * and handed to the cgroup it belongs to (src/oom/forensics.ts).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { createOomForensics } from "../../../src/oom/forensics.js";
import type { OomVictim } from "../../../src/events/types.js";
import { GuestCgroup, assertInGuest } from "./guest.js";

assertInGuest();

const MiB = 1024 * 1024;

void describe("OOM victims from /dev/kmsg on v2", () => {
  const cg = new GuestCgroup("victim");
  const forensics = createOomForensics({ persistent: false, waitMs: 10_000 });
  after(async () => {
    forensics.close();
    await cg.remove();
  });

  void it("names the hog killed under memory.max, with its memcg and rss", async () => {
    assert.equal(forensics.available, true, "/dev/kmsg should be readable as root in the guest");
    cg.write("memory.max", String(32 * MiB));
    const hog = cg.memoryHog(128, 30);
    const exit = await hog.exited;
    assert.equal(exit.signal, "SIGKILL", `hog should be OOM-killed, got ${JSON.stringify(exit)} ${hog.stderr}`);
    const victims = await new Promise<OomVictim[]>((res) => forensics.claimSoon(cg.cgroup, 1, res));
    assert.equal(victims.length, 1, "one victim for one kill");
    const v = victims[0];
    assert.ok(v !== undefined);
    assert.equal(v.pid, hog.child.pid);
    assert.equal(v.comm, "python3");
    assert.equal(v.oomMemcg, cg.cgroup);
    assert.equal(v.taskMemcg, cg.cgroup);
    assert.equal(v.constraint, "CONSTRAINT_MEMCG");
    assert.ok(v.anonRssBytes > 16 * MiB, `anon-rss ${v.anonRssBytes}`);
  });
});
