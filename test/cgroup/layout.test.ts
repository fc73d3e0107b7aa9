/**
 * Hierarchy detection from /proc/self/mountinfo text (cgroup/layout.ts):
 * v1, v2, hybrid, containers, octal escapes. The v2 root's
 * cgroup.controllers is injected, so these are pure.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  layoutFromMountInfo,
  locateController,
  parseMountInfo,
  v1LayoutAt,
  v2LayoutAt,
} from "../../src/cgroup/layout.js";
import { describeLayout } from "../../src/cgroup/detect.js";

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/mountinfo");
const mountinfo = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), "utf8");
const controllersAt =
  (byRoot: Record<string, string>) =>
  (root: string): string =>
    byRoot[root] ?? "";
const v1Of = (layout: ReturnType<typeof layoutFromMountInfo>): Record<string, string> => Object.fromEntries(layout.v1);

describe("layoutFromMountInfo", () => {
  it("v1 (systemd legacy): one hierarchy per controller, co-mounted ones share a mount, named hierarchies ignored", () => {
    const layout = layoutFromMountInfo(mountinfo("v1-legacy-systemd.txt"), () => {
      throw new Error("no v2 root to read");
    });
    expect(layout.mode).toBe("v1");
    expect(layout.v2Root).toBeNull();
    expect(v1Of(layout)).toEqual({
      cpu: "/sys/fs/cgroup/cpu,cpuacct",
      cpuacct: "/sys/fs/cgroup/cpu,cpuacct",
      memory: "/sys/fs/cgroup/memory",
      pids: "/sys/fs/cgroup/pids",
      blkio: "/sys/fs/cgroup/blkio",
      cpuset: "/sys/fs/cgroup/cpuset",
      net_cls: "/sys/fs/cgroup/net_cls,net_prio",
      net_prio: "/sys/fs/cgroup/net_cls,net_prio",
      freezer: "/sys/fs/cgroup/freezer",
      hugetlb: "/sys/fs/cgroup/hugetlb",
      devices: "/sys/fs/cgroup/devices",
    });
    expect(locateController(layout, "memory")).toEqual({ version: 1, root: "/sys/fs/cgroup/memory" });
    expect(locateController(layout, "io")).toBeNull();
  });

  it("v2: one unified hierarchy; controllers from its cgroup.controllers; cpuacct → cpu, blkio → io", () => {
    const layout = layoutFromMountInfo(
      mountinfo("v2-unified.txt"),
      controllersAt({ "/sys/fs/cgroup": "cpuset cpu io memory hugetlb pids rdma misc\n" }),
    );
    expect(layout.mode).toBe("v2");
    expect(layout.v1.size).toBe(0);
    expect(layout.v2Root).toBe("/sys/fs/cgroup");
    expect([...layout.v2Controllers]).toEqual(["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]);
    expect(locateController(layout, "cpuacct")).toEqual({ version: 2, root: "/sys/fs/cgroup" });
    expect(locateController(layout, "blkio")).toEqual({ version: 2, root: "/sys/fs/cgroup" });
    expect(locateController(layout, "freezer")).toBeNull(); // v2's freezer is a core file, not a controller
  });

  it("hybrid: v1 controllers stay on v1; the unified mount holds only what is listed at its root", () => {
    const layout = layoutFromMountInfo(
      mountinfo("hybrid-systemd.txt"),
      controllersAt({ "/sys/fs/cgroup/unified": "io\n" }),
    );
    expect(layout.mode).toBe("hybrid");
    expect(layout.v2Root).toBe("/sys/fs/cgroup/unified");
    expect(locateController(layout, "memory")).toEqual({ version: 1, root: "/sys/fs/cgroup/memory" });
    expect(locateController(layout, "cpu")).toEqual({ version: 1, root: "/sys/fs/cgroup/cpu,cpuacct" });
    expect(locateController(layout, "io")).toEqual({ version: 2, root: "/sys/fs/cgroup/unified" });
    expect(locateController(layout, "blkio")).toEqual({ version: 2, root: "/sys/fs/cgroup/unified" });
    expect(describeLayout(layout)).toBe(
      "hybrid: v1 {cpu=/sys/fs/cgroup/cpu,cpuacct cpuacct=/sys/fs/cgroup/cpu,cpuacct memory=/sys/fs/cgroup/memory pids=/sys/fs/cgroup/pids} v2 /sys/fs/cgroup/unified [io]",
    );
  });

  it("this host (captured): v1 per controller plus an empty unified mount is hybrid, and the empty v2 side locates nothing", () => {
    const layout = layoutFromMountInfo(
      mountinfo("this-host-v1-and-empty-unified.txt"),
      controllersAt({ "/sys/fs/cgroup/unified": "" }),
    );
    expect(layout.mode).toBe("hybrid");
    expect(layout.v2Controllers.size).toBe(0);
    expect(locateController(layout, "cpu")).toEqual({ version: 1, root: "/sys/fs/cgroup/cpu" });
    expect(locateController(layout, "cpuacct")).toEqual({ version: 1, root: "/sys/fs/cgroup/cpuacct" });
    expect(locateController(layout, "io")).toBeNull();
  });

  it("containers: the first mount of a hierarchy wins (the container's own view); the host's tree needs cgroupRoot", () => {
    const ns = layoutFromMountInfo(
      mountinfo("container-cgroupns-v2.txt"),
      controllersAt({ "/sys/fs/cgroup": "cpu memory pids\n" }),
    );
    expect(ns).toMatchObject({ mode: "v2", v2Root: "/sys/fs/cgroup" });
    const noNs = layoutFromMountInfo(mountinfo("container-no-cgroupns-v1.txt"), () => "");
    expect(noNs.mode).toBe("v1");
    expect(v1Of(noNs)["memory"]).toBe("/sys/fs/cgroup/memory");
    // The mount's root field is the container's own cgroup (no namespace): kept, unescaped, for whoever needs it.
    expect(
      parseMountInfo(mountinfo("container-no-cgroupns-v1.txt")).find((m) => m.mountPoint === "/sys/fs/cgroup/memory")
        ?.root,
    ).toBe("/docker/0123456789ab");
  });

  it("octal escapes in mount points (\\040 space, \\011 tab, \\134 backslash) are decoded; a malformed line is skipped", () => {
    const lines = parseMountInfo(mountinfo("escaped-mount-points.txt"));
    expect(lines.map((l) => l.mountPoint)).toEqual([
      "/",
      "/mnt/test cgroups/memory",
      "/mnt/tab\tand\\backslash/cpu",
      "/mnt/v2 tree",
    ]);
    const layout = layoutFromMountInfo(
      mountinfo("escaped-mount-points.txt"),
      controllersAt({ "/mnt/v2 tree": "pids" }),
    );
    expect(v1Of(layout)).toEqual({
      memory: "/mnt/test cgroups/memory",
      cpu: "/mnt/tab\tand\\backslash/cpu",
      cpuacct: "/mnt/tab\tand\\backslash/cpu",
    });
    expect(layout.v2Root).toBe("/mnt/v2 tree");
    expect(locateController(layout, "pids")).toEqual({ version: 2, root: "/mnt/v2 tree" });
  });

  it("no cgroup mount at all: no v2 root, every controller unlocatable", () => {
    const layout = layoutFromMountInfo("28 0 8:1 / / rw - ext4 /dev/sda1 rw\n", () => "");
    expect(layout.v2Root).toBeNull();
    expect(layout.v1.size).toBe(0);
    expect(locateController(layout, "memory")).toBeNull();
  });

  it("the fake-tree layouts put every controller under the given root", () => {
    expect(locateController(v1LayoutAt("/t"), "cpuacct")).toEqual({ version: 1, root: "/t/cpuacct" });
    expect(locateController(v2LayoutAt("/t"), "io")).toEqual({ version: 2, root: "/t" });
    expect(locateController(v2LayoutAt("/t", ["memory"]), "cpu")).toBeNull();
  });
});
