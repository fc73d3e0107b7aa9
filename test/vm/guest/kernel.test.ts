/**
 * The guest is what the tier claims: a pure cgroup v2 host whose layout
 * cgwatch detects from the real /proc/self/mountinfo, with the controllers
 * and PSI files the rest of the suite relies on.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import { after, describe, it } from "node:test";
import { layoutFromMountInfo, locateController } from "../../../src/cgroup/layout.js";
import { parsePsi } from "../../../src/cgroup/parse.js";
import { GuestCgroup, V2_ROOT, assertInGuest } from "./guest.js";

assertInGuest();

void describe("guest kernel", () => {
  const cg = new GuestCgroup("kernel");
  after(() => cg.remove());

  void it("is a pure v2 host by cgwatch's own layout detection", () => {
    const layout = layoutFromMountInfo(fs.readFileSync("/proc/self/mountinfo", "utf8"), (root) =>
      fs.readFileSync(`${root}/cgroup.controllers`, "utf8"),
    );
    assert.equal(layout.mode, "v2");
    assert.equal(layout.v2Root, V2_ROOT);
    for (const c of ["memory", "cpu", "pids", "io"] as const)
      assert.deepEqual(locateController(layout, c), { version: 2, root: V2_ROOT }, c);
    process.stdout.write(`# guest kernel ${os.release()}\n`);
  });

  void it("exposes the v2 files the watchdog reads in a child cgroup, and PSI parses", () => {
    for (const f of [
      "memory.events",
      "memory.high",
      "memory.max",
      "memory.oom.group",
      "cpu.max",
      "cpu.max.burst",
      "cpu.stat",
      "pids.events",
      "cgroup.events",
      "cgroup.kill",
      "memory.pressure",
      "cpu.pressure",
    ]) {
      assert.ok(fs.existsSync(cg.file(f)), `${cg.file(f)} missing`);
    }
    const psi = parsePsi(cg.read("memory.pressure"));
    assert.equal(psi.kind, "ok", JSON.stringify(psi));
    // v2 has no per-cgroup swappiness: the file the v1 action writes does not exist.
    assert.equal(fs.existsSync(cg.file("memory.swappiness")), false);
  });
});
