/**
 * The I/O edge of hierarchy detection: reads /proc/self/mountinfo (or takes
 * an explicit root) and the v2 root's cgroup.controllers.
 */
import fs from "node:fs";
import path from "node:path";
import { layoutFromMountInfo, v1LayoutAt, v2LayoutAt, type CgroupLayout } from "./layout.js";
import { readControlFile } from "./read.js";

/** Non-blocking and regular files only, like every control file read (a FIFO here must not hang startup). */
const readControllers = (root: string): string => {
  const r = readControlFile(path.join(root, "cgroup.controllers"));
  return r.kind === "ok" ? r.text : "";
};

/**
 * Where the hierarchies are: found from the mount table, or a tree at a
 * path. (The config's `cgroupRoot` has this shape; the kernel layer does
 * not know the config.)
 */
export type HierarchyRoot = { readonly kind: "auto" } | { readonly kind: "path"; readonly path: string };

/**
 * `auto`: from the mount table. A path: a v2 tree if it has cgroup.controllers
 * at its top, else a v1 tree of per-controller directories (root/memory, ...).
 */
export function detectLayout(setting: HierarchyRoot, procRoot = "/proc"): CgroupLayout {
  switch (setting.kind) {
    case "auto":
      return layoutFromMountInfo(fs.readFileSync(path.join(procRoot, "self/mountinfo"), "utf8"), readControllers);
    case "path": {
      const root = path.resolve(setting.path);
      if (fs.existsSync(path.join(root, "cgroup.controllers")))
        return v2LayoutAt(
          root,
          readControllers(root)
            .trim()
            .split(/\s+/)
            .filter((c) => c !== ""),
        );
      const controllers = fs
        .readdirSync(root)
        .filter((d) => ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "freezer", "hugetlb"].includes(d));
      if (controllers.length === 0)
        throw new Error(
          `${root} is neither a cgroup2 root (no cgroup.controllers) nor a v1 tree (no memory/, cpu/ ... directories)`,
        );
      return v1LayoutAt(root, controllers);
    }
  }
}

export function describeLayout(layout: CgroupLayout): string {
  const v1 = [...layout.v1.entries()].map(([c, p]) => `${c}=${p}`).join(" ");
  const v2 = layout.v2Root === null ? "none" : `${layout.v2Root} [${[...layout.v2Controllers].join(" ")}]`;
  return `${layout.mode}: v1 {${v1}} v2 ${v2}`;
}
