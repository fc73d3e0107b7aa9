/**
 * The guarded writer's refusals (cgroup/writer.ts), on a fake tree: a path
 * that resolves outside the root through a symlink, "..", a file not on the
 * allow-list, and signals to pid <= 1 or to cgwatch itself. process.kill is
 * stubbed in the signal tests: a refusal that regressed must show up as a
 * red test, not as a signal really sent to init or to the test runner.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createGuardedWriter } from "../../src/cgroup/writer.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";

let host: FakeHost;
let outside: string;
beforeEach(() => {
  host = fakeHost(2);
  host.addCgroup("app");
  outside = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-outside-"));
  fs.writeFileSync(path.join(outside, "memory.max"), "max\n");
  fs.writeFileSync(path.join(outside, "cgroup.kill"), "");
});
afterEach(() => {
  vi.restoreAllMocks();
  host.cleanup();
  fs.rmSync(outside, { recursive: true, force: true });
});

describe("guarded writer: paths", () => {
  it("writes an allow-listed file of a cgroup under the root", () => {
    const w = createGuardedWriter(host.layout, "/proc");
    expect(w.write({ kind: "cgroup_file", cgroup: "app", controller: "memory", file: "memory.max" }, "1048576")).toMatchObject({ kind: "written" });
    expect(host.read("app", "memory.max")).toBe("1048576");
  });

  it("refuses a cgroup directory that is a symlink out of the root, and leaves the target untouched", () => {
    fs.symlinkSync(outside, path.join(host.root, "evil"));
    const w = createGuardedWriter(host.layout, "/proc");
    // The lexical path is inside the root: only resolving the symlink shows where it goes.
    expect(w.resolve({ kind: "cgroup_file", cgroup: "evil", controller: "memory", file: "memory.max" })).toMatchObject({ kind: "ok" });
    const r = w.write({ kind: "cgroup_file", cgroup: "evil", controller: "memory", file: "memory.max" }, "4096");
    expect(r).toMatchObject({ kind: "failed", errno: "EREFUSED" });
    expect(r.kind === "failed" ? r.reason : "").toMatch(/resolves outside/);
    expect(fs.readFileSync(path.join(outside, "memory.max"), "utf8")).toBe("max\n");
    const k = w.write({ kind: "v2_core_file", cgroup: "evil", file: "cgroup.kill" }, "1");
    expect(k).toMatchObject({ kind: "failed", errno: "EREFUSED" });
    expect(fs.readFileSync(path.join(outside, "cgroup.kill"), "utf8")).toBe("");
  });

  it("refuses '..' and files off the allow-list before touching the disk", () => {
    const w = createGuardedWriter(host.layout, "/proc");
    expect(w.write({ kind: "cgroup_file", cgroup: "app/../..", controller: "memory", file: "memory.max" }, "1")).toMatchObject({ kind: "failed", errno: "EREFUSED", path: null });
    expect(w.write({ kind: "cgroup_file", cgroup: "app", controller: "memory", file: "memory.current" }, "1")).toMatchObject({ kind: "failed", errno: "EREFUSED", path: null });
    expect(w.write({ kind: "v2_core_file", cgroup: "app", file: "cgroup.procs" }, "1")).toMatchObject({ kind: "failed", errno: "EREFUSED", path: null });
    expect(w.write({ kind: "oom_score_adj", pid: 0 }, "-1000")).toMatchObject({ kind: "failed", errno: "EREFUSED", path: null });
  });
});

describe("guarded writer: signals", () => {
  const stubKill = () => vi.spyOn(process, "kill").mockImplementation(() => true);

  it.each([1, 0, -1, -4242, Number.NaN, 1.5])("refuses to signal pid %s (init, process groups, nonsense)", (pid) => {
    const kill = stubKill();
    const r = createGuardedWriter(host.layout, "/proc").signal(pid, "SIGKILL");
    expect(r).toMatchObject({ kind: "failed", errno: "EREFUSED" });
    expect(kill).not.toHaveBeenCalled();
  });

  it("refuses to signal cgwatch itself", () => {
    const kill = stubKill();
    const r = createGuardedWriter(host.layout, "/proc").signal(process.pid, "SIGKILL");
    expect(r).toMatchObject({ kind: "failed", errno: "EREFUSED" });
    expect(r.kind === "failed" ? r.reason : "").toMatch(/cgwatch itself/);
    expect(kill).not.toHaveBeenCalled();
  });

  it("signals any other pid (2 is the first allowed) and reports ESRCH as failed, not thrown", () => {
    const kill = stubKill();
    expect(createGuardedWriter(host.layout, "/proc").signal(2, "SIGKILL")).toMatchObject({ kind: "written", path: "pid 2" });
    expect(kill).toHaveBeenCalledWith(2, "SIGKILL");
    kill.mockImplementation(() => {
      throw Object.assign(new Error("kill ESRCH"), { code: "ESRCH" });
    });
    expect(createGuardedWriter(host.layout, "/proc").signal(2, "SIGKILL")).toMatchObject({ kind: "failed", errno: "ESRCH" });
  });
});
