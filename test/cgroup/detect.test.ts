/**
 * The I/O edge of hierarchy detection (cgroup/detect.ts): `cgroupRoot: auto`
 * reads <procRoot>/self/mountinfo and the v2 root's cgroup.controllers;
 * `cgroupRoot: <path>` (the DaemonSet's /host/sys/fs/cgroup) tells a v2 tree
 * from a v1 one by what is at its top, and refuses a directory that is
 * neither, with a message that says why.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { detectLayout } from "../../src/cgroup/detect.js";
import { locateController } from "../../src/cgroup/layout.js";
import { fakeHost, materialize } from "../helpers/fakeCgroupfs.js";

const dirs: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-detect-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("cgroupRoot: a path", () => {
  it("a v2 tree (cgroup.controllers at its top) is v2 with the controllers it lists", () => {
    const h = fakeHost(2, tmp());
    const layout = detectLayout({ kind: "path", path: h.root });
    expect(layout).toMatchObject({ mode: "v2", v2Root: h.root });
    expect([...layout.v2Controllers]).toEqual(["cpuset", "cpu", "io", "memory", "hugetlb", "pids"]);
  });

  it("a relative path is resolved; a trailing slash does not matter", () => {
    const h = fakeHost(2, tmp());
    const rel = path.relative(process.cwd(), h.root);
    expect(detectLayout({ kind: "path", path: `${rel}/` }).v2Root).toBe(h.root);
  });

  it("a v1 tree (memory/, cpu/ ... directories) is v1 with exactly the controllers present", () => {
    const root = tmp();
    materialize(root, {
      memory: { "cgroup.procs": "" },
      cpu: { "cgroup.procs": "" },
      pids: { "cgroup.procs": "" },
      systemd: {},
      "not-a-controller": {},
    });
    const layout = detectLayout({ kind: "path", path: root });
    expect(layout.mode).toBe("v1");
    expect(Object.fromEntries(layout.v1)).toEqual({
      memory: `${root}/memory`,
      cpu: `${root}/cpu`,
      pids: `${root}/pids`,
    });
    expect(locateController(layout, "cpuacct")).toBeNull();
  });

  it("a directory that is neither is refused with the reason; a missing one throws", () => {
    const root = tmp();
    fs.mkdirSync(path.join(root, "etc"));
    expect(() => detectLayout({ kind: "path", path: root })).toThrow(
      /is neither a cgroup2 root \(no cgroup.controllers\) nor a v1 tree/,
    );
    expect(() => detectLayout({ kind: "path", path: path.join(root, "absent") })).toThrow(/ENOENT/);
  });
});

describe("cgroupRoot: auto", () => {
  it("reads <procRoot>/self/mountinfo and the v2 root's cgroup.controllers", () => {
    const proc = tmp();
    const v2 = fakeHost(2, tmp());
    fs.mkdirSync(path.join(proc, "self"));
    // A mount point with a space, written the way the kernel escapes it.
    const spaced = path.join(tmp(), "my cgroups");
    fs.renameSync(v2.root, spaced);
    fs.writeFileSync(
      path.join(proc, "self/mountinfo"),
      `28 0 8:1 / / rw - ext4 /dev/sda1 rw\n40 28 0:38 / ${spaced.replaceAll(" ", "\\040")} rw,relatime - cgroup2 cgroup2 rw\n`,
    );
    const layout = detectLayout({ kind: "auto" }, proc);
    expect(layout).toMatchObject({ mode: "v2", v2Root: spaced });
    expect(locateController(layout, "memory")).toEqual({ version: 2, root: spaced });
  });

  it("a v2 root whose cgroup.controllers cannot be read holds no controller (not a crash)", () => {
    const proc = tmp();
    fs.mkdirSync(path.join(proc, "self"));
    fs.writeFileSync(path.join(proc, "self/mountinfo"), "40 28 0:38 / /nonexistent/cgroup2 rw - cgroup2 cgroup2 rw\n");
    const layout = detectLayout({ kind: "auto" }, proc);
    expect(layout).toMatchObject({ mode: "v2", v2Root: "/nonexistent/cgroup2" });
    expect(layout.v2Controllers.size).toBe(0);
  });

  it("on this machine: the real mount table gives a layout that carries memory", () => {
    const layout = detectLayout({ kind: "auto" });
    expect(locateController(layout, "memory")).not.toBeNull();
  });
});
