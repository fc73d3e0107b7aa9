/**
 * Where each controller lives. A host is v1 (one hierarchy per controller),
 * v2 (one unified hierarchy) or hybrid (v1 hierarchies plus a cgroup2 mount
 * that owns only the controllers no v1 hierarchy took). The layout is
 * derived from /proc/self/mountinfo by a pure function so that it can be
 * tested on captured text, and every path in it is absolute: tests build a
 * layout over a temp dir and nothing below main.ts knows /sys/fs/cgroup.
 */

/** Every controller cgwatch knows, v1 and v2 names alike. */
export const CONTROLLERS = ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "io", "freezer", "hugetlb"] as const;
export type Controller = (typeof CONTROLLERS)[number];

export type CgroupVersion = 1 | 2;

export interface CgroupLayout {
  readonly mode: "v1" | "v2" | "hybrid";
  /** v1 controller → absolute mount point of its hierarchy. */
  readonly v1: ReadonlyMap<string, string>;
  /** Absolute mount point of the cgroup2 hierarchy, if mounted. */
  readonly v2Root: string | null;
  /** Controllers enabled in the v2 hierarchy (from cgroup.controllers at the v2 root). */
  readonly v2Controllers: ReadonlySet<string>;
}

/** Where a controller's files for a cgroup live and which semantics apply. */
export interface ControllerLocation {
  readonly version: CgroupVersion;
  /** Absolute path of the hierarchy root that holds the controller. */
  readonly root: string;
}

/**
 * v2 merges controllers that v1 splits: cpu and cpuacct are both "cpu", blkio is "io".
 * Returns null when no hierarchy on this host carries the controller.
 */
export function locateController(layout: CgroupLayout, controller: Controller): ControllerLocation | null {
  const v1Root = layout.v1.get(controller);
  if (v1Root !== undefined) return { version: 1, root: v1Root };
  if (layout.v2Root === null) return null;
  const v2Name = controller === "cpuacct" ? "cpu" : controller === "blkio" ? "io" : controller;
  // The v2 root may be the whole cgroupfs of a pure v2 host, or a hybrid's
  // `unified` mount; either way it holds a controller only if listed.
  if (layout.v2Controllers.has(v2Name)) return { version: 2, root: layout.v2Root };
  return null;
}

interface MountInfoLine {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: readonly string[];
  readonly root: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 etc.). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/self/mountinfo (proc(5)): "id parent maj:min root mountpoint opts [optional...] - fstype source superopts". */
export function parseMountInfo(text: string): MountInfoLine[] {
  const lines: MountInfoLine[] = [];
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue;
    const sep = raw.indexOf(" - ");
    if (sep < 0) continue; // malformed line: skip rather than guess
    const left = raw.slice(0, sep).split(" ");
    const right = raw.slice(sep + 3).split(" ");
    const root = left[3];
    const mountPoint = left[4];
    const fsType = right[0];
    if (root === undefined || mountPoint === undefined || fsType === undefined) continue;
    lines.push({
      root: unescapeMountField(root),
      mountPoint: unescapeMountField(mountPoint),
      fsType,
      superOptions: (right[2] ?? "").split(","),
    });
  }
  return lines;
}

const V1_CONTROLLERS: readonly string[] = [
  "memory",
  "cpu",
  "cpuacct",
  "cpuset",
  "pids",
  "blkio",
  "freezer",
  "hugetlb",
  "devices",
  "net_cls",
  "net_prio",
  "perf_event",
  "rdma",
  "misc",
];

/**
 * Builds the layout from mountinfo text. `v2ControllersOf` reads the v2
 * root's cgroup.controllers (injected so this stays pure).
 * The first mount of each hierarchy wins: bind mounts of the same hierarchy
 * elsewhere (containers) would otherwise shadow the host's view.
 */
export function layoutFromMountInfo(text: string, v2ControllersOf: (v2Root: string) => string): CgroupLayout {
  const v1 = new Map<string, string>();
  let v2Root: string | null = null;
  for (const m of parseMountInfo(text)) {
    if (m.fsType === "cgroup") {
      for (const opt of m.superOptions) {
        if (V1_CONTROLLERS.includes(opt) && !v1.has(opt)) v1.set(opt, m.mountPoint);
      }
    } else if (m.fsType === "cgroup2" && v2Root === null) {
      v2Root = m.mountPoint;
    }
  }
  const v2Controllers = new Set<string>(
    v2Root === null
      ? []
      : v2ControllersOf(v2Root)
          .trim()
          .split(/\s+/)
          .filter((c) => c !== ""),
  );
  const mode = v1.size === 0 ? "v2" : v2Root === null ? "v1" : "hybrid";
  return { mode, v1, v2Root, v2Controllers };
}

/** A layout over a directory laid out like a pure v1 host (root/<controller>/...): for fake cgroupfs trees. */
export function v1LayoutAt(
  root: string,
  controllers: readonly string[] = ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "freezer"],
): CgroupLayout {
  return {
    mode: "v1",
    v1: new Map(controllers.map((c) => [c, `${root}/${c}`])),
    v2Root: null,
    v2Controllers: new Set(),
  };
}

/** A layout over a directory laid out like a pure v2 host: for fake cgroupfs trees and the VM tier. */
export function v2LayoutAt(
  root: string,
  controllers: readonly string[] = ["cpuset", "cpu", "io", "memory", "pids", "hugetlb"],
): CgroupLayout {
  return { mode: "v2", v1: new Map(), v2Root: root, v2Controllers: new Set(controllers) };
}
