/**
 * A fake cgroupfs in a temp dir: ordinary files laid out like v1 or v2
 * hierarchies. inotify works on ordinary files, so the v2 notification path
 * runs end to end against it; tests write counters the way the kernel would.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { v1LayoutAt, v2LayoutAt, type CgroupLayout } from "../../src/cgroup/layout.js";

export type Tree = { readonly [name: string]: string | Tree };

export function materialize(dir: string, tree: Tree): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(tree)) {
    const p = path.join(dir, name);
    if (typeof content === "string") fs.writeFileSync(p, content);
    else materialize(p, content);
  }
}

export const V2_CGROUP_FILES: Tree = {
  "cgroup.events": "populated 1\nfrozen 0\n",
  "cgroup.procs": "",
  "cgroup.freeze": "0\n",
  "cgroup.kill": "",
  "memory.current": "10485760\n",
  "memory.max": "max\n",
  "memory.high": "max\n",
  "memory.low": "0\n",
  "memory.min": "0\n",
  "memory.swap.max": "max\n",
  "memory.oom.group": "0\n",
  "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
  "memory.stat": "anon 1048576\nfile 2097152\n",
  "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
  "cpu.max": "max 100000\n",
  "cpu.max.burst": "0\n",
  "cpu.weight": "100\n",
  "cpu.stat":
    "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n",
  "cpu.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
  "io.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
  "pids.current": "1\n",
  "pids.max": "max\n",
  "pids.events": "max 0\n",
};

export const V1_MEMORY_FILES: Tree = {
  "cgroup.procs": "",
  "cgroup.event_control": "",
  "memory.usage_in_bytes": "10485760\n",
  "memory.limit_in_bytes": "9223372036854771712\n",
  "memory.memsw.limit_in_bytes": "9223372036854771712\n",
  "memory.soft_limit_in_bytes": "9223372036854771712\n",
  "memory.failcnt": "0\n",
  "memory.swappiness": "60\n",
  "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
  "memory.stat": "cache 0\nrss 1048576\n",
  "memory.kmem.usage_in_bytes": "0\n",
};

export const V1_CPU_FILES: Tree = {
  "cgroup.procs": "",
  "cpu.cfs_quota_us": "-1\n",
  "cpu.cfs_period_us": "100000\n",
  "cpu.cfs_burst_us": "0\n",
  "cpu.shares": "1024\n",
  "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
};

export const V1_CPUACCT_FILES: Tree = { "cgroup.procs": "", "cpuacct.usage": "0\n" };
export const V1_PIDS_FILES: Tree = {
  "cgroup.procs": "",
  "pids.current": "1\n",
  "pids.max": "max\n",
  "pids.events": "max 0\n",
};

export interface FakeHost {
  readonly root: string;
  readonly layout: CgroupLayout;
  /** Creates a cgroup (with its control files) in every hierarchy. */
  addCgroup(cgroup: string, overrides?: Readonly<Record<string, string>>): void;
  removeCgroup(cgroup: string): void;
  /** Absolute path of a control file in the hierarchy that holds it. */
  file(cgroup: string, name: string): string;
  /** Overwrites a control file in place (same inode), as the kernel's seq_file would present it. */
  write(cgroup: string, name: string, content: string): void;
  read(cgroup: string, name: string): string;
  cleanup(): void;
}

const V1_FILE_CONTROLLER: Readonly<Record<string, string>> = {
  memory: "memory",
  cpu: "cpu",
  cpuacct: "cpuacct",
  pids: "pids",
  blkio: "blkio",
  cpuset: "cpuset",
  freezer: "freezer",
};

function v1ControllerOf(file: string): string {
  const prefix = file.split(".")[0] ?? "";
  const c = V1_FILE_CONTROLLER[prefix];
  if (c === undefined) throw new Error(`fake v1 host: no controller for file ${file}`);
  return c;
}

export function fakeHost(version: 1 | 2, rootDir?: string): FakeHost {
  const root = rootDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `cgwatch-fake-v${version}-`));
  const layout = version === 1 ? v1LayoutAt(root) : v2LayoutAt(root);
  const v1Trees: Readonly<Record<string, Tree>> = {
    memory: V1_MEMORY_FILES,
    cpu: V1_CPU_FILES,
    cpuacct: V1_CPUACCT_FILES,
    pids: V1_PIDS_FILES,
    cpuset: { "cgroup.procs": "", "cpuset.cpus": "0-1\n", "cpuset.mems": "0\n" },
    blkio: { "cgroup.procs": "", "blkio.weight": "500\n" },
    freezer: { "cgroup.procs": "", "freezer.state": "THAWED\n" },
  };
  const dirOf = (cgroup: string, file: string): string =>
    version === 2 ? path.join(root, cgroup) : path.join(root, v1ControllerOf(file), cgroup);
  const host: FakeHost = {
    root,
    layout,
    addCgroup(cgroup, overrides = {}) {
      if (version === 2) materialize(path.join(root, cgroup), V2_CGROUP_FILES);
      else for (const [c, t] of Object.entries(v1Trees)) materialize(path.join(root, c, cgroup), t);
      for (const [name, content] of Object.entries(overrides)) host.write(cgroup, name, content);
    },
    removeCgroup(cgroup) {
      if (version === 2) fs.rmSync(path.join(root, cgroup), { recursive: true, force: true });
      else
        for (const c of Object.keys(v1Trees)) fs.rmSync(path.join(root, c, cgroup), { recursive: true, force: true });
    },
    file: (cgroup, name) => path.join(dirOf(cgroup, name), name),
    write(cgroup, name, content) {
      // writeFileSync truncates and rewrites the same inode: an inotify watch
      // on the file sees IN_MODIFY, as it does for kernfs notifications.
      fs.writeFileSync(host.file(cgroup, name), content);
    },
    read: (cgroup, name) => fs.readFileSync(host.file(cgroup, name), "utf8"),
    cleanup() {
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  if (version === 2) {
    materialize(root, {
      "cgroup.controllers": "cpuset cpu io memory hugetlb pids\n",
      "cgroup.subtree_control": "cpu memory pids\n",
    });
  } else {
    for (const [c, t] of Object.entries(v1Trees)) materialize(path.join(root, c), t);
  }
  return host;
}
