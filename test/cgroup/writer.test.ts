/**
 * The guarded writer on hostile and broken trees (real symlinks, FIFOs,
 * sockets, directories in temp dirs): nothing outside the root is written,
 * nothing blocks, every refusal is named.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { v1LayoutAt, v2LayoutAt, type Controller } from "../../src/cgroup/layout.js";
import {
  V2_CORE_WRITABLE_FILES,
  WRITABLE_FILES,
  createGuardedWriter,
  type WriteTarget,
} from "../../src/cgroup/writer.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";
import { directoryAt, fingerprint, specialFiles, symlinkAt, type SpecialFiles } from "../helpers/hostileTree.js";

let special: SpecialFiles;
beforeAll(async () => {
  special = await specialFiles();
});
afterAll(() => special.cleanup());

const scratch: string[] = [];
afterEach(() => {
  for (const d of scratch.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tmp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `cgwatch-${prefix}-`));
  scratch.push(d);
  return d;
}

/** A v2 fake host with one cgroup "victim", and a directory outside its root holding files an attacker wants written. */
function hostWithOutside(): { host: FakeHost; outside: string } {
  const base = tmp("writer");
  const host = fakeHost(2, path.join(base, "root"));
  host.addCgroup("victim");
  const outside = path.join(base, "outside");
  fs.mkdirSync(outside);
  for (const f of ["memory.max", "memory.high", "cpu.max", "pids.max", "passwd", "oom_score_adj"])
    fs.writeFileSync(path.join(outside, f), `precious ${f}\n`);
  return { host, outside };
}

const file = (cgroup: string, controller: Controller, name: string): WriteTarget => ({
  kind: "cgroup_file",
  cgroup,
  controller,
  file: name,
});

describe("guarded writer: symlinks", () => {
  it("refuses control files that are symlinks out of the root (memory.max, memory.high, cpu.max, pids.max); the outside files keep their content", () => {
    const { host, outside } = hostWithOutside();
    const writer = createGuardedWriter(host.layout, "/proc");
    const before = fingerprint(outside);
    const targets: [Controller, string][] = [
      ["memory", "memory.max"],
      ["memory", "memory.high"],
      ["cpu", "cpu.max"],
      ["pids", "pids.max"],
    ];
    for (const [controller, name] of targets) {
      symlinkAt(host.file("victim", name), path.join(outside, name));
      for (const value of ["1", "max", "20000 100000"]) {
        const r = writer.write(file("victim", controller, name), value);
        expect(r).toMatchObject({ kind: "failed", errno: "EREFUSED", unsafe: "symlink" });
      }
    }
    expect(fingerprint(outside)).toBe(before);
  });

  it("refuses a symlink at any directory component, even one that points back inside the root", () => {
    const { host, outside } = hostWithOutside();
    const writer = createGuardedWriter(host.layout, "/proc");
    host.addCgroup("real/inner");
    // "alias" -> "real" stays inside the root: still not a cgroup directory on kernfs.
    fs.symlinkSync(path.join(host.root, "real"), path.join(host.root, "alias"));
    fs.symlinkSync(outside, path.join(host.root, "evil"));
    const before = fingerprint(outside);
    expect(writer.write(file("alias/inner", "memory", "memory.max"), "1")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
      unsafe: "symlink",
    });
    expect(writer.write(file("evil", "memory", "memory.max"), "1")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
      unsafe: "symlink",
    });
    expect(writer.write({ kind: "v2_core_file", cgroup: "evil", file: "cgroup.kill" }, "1")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
    });
    expect(fingerprint(outside)).toBe(before);
    expect(host.read("real/inner", "memory.max")).toBe("max\n");
    // The real path is written normally.
    expect(writer.write(file("real/inner", "memory", "memory.max"), "4096")).toMatchObject({ kind: "written" });
    expect(host.read("real/inner", "memory.max")).toBe("4096");
  });

  it("a hierarchy root that is itself a symlink (v1 /sys/fs/cgroup/cpu -> cpu,cpuacct) is followed: only below the root are symlinks refused", () => {
    const base = tmp("rootlink");
    fs.mkdirSync(path.join(base, "cpu,cpuacct", "svc"), { recursive: true });
    fs.writeFileSync(path.join(base, "cpu,cpuacct", "svc", "cpu.cfs_quota_us"), "-1\n");
    fs.symlinkSync("cpu,cpuacct", path.join(base, "cpu"));
    const writer = createGuardedWriter(v1LayoutAt(base, ["cpu"]), "/proc");
    expect(writer.write(file("svc", "cpu", "cpu.cfs_quota_us"), "50000")).toMatchObject({ kind: "written" });
    expect(fs.readFileSync(path.join(base, "cpu,cpuacct", "svc", "cpu.cfs_quota_us"), "utf8")).toBe("50000");
  });

  it("oom_score_adj under /proc: a symlinked pid directory or file is refused", () => {
    const base = tmp("proc");
    const procRoot = path.join(base, "proc");
    const outside = path.join(base, "outside");
    fs.mkdirSync(path.join(procRoot, "100"), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, "oom_score_adj"), "0\n");
    fs.symlinkSync(path.join(outside, "oom_score_adj"), path.join(procRoot, "100", "oom_score_adj"));
    fs.symlinkSync(outside, path.join(procRoot, "200"));
    fs.mkdirSync(path.join(procRoot, "300"));
    fs.writeFileSync(path.join(procRoot, "300", "oom_score_adj"), "0\n");
    const writer = createGuardedWriter(v2LayoutAt(path.join(base, "cg")), procRoot);
    expect(writer.write({ kind: "oom_score_adj", pid: 100 }, "1000")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
      unsafe: "symlink",
    });
    expect(writer.write({ kind: "oom_score_adj", pid: 200 }, "1000")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
      unsafe: "symlink",
    });
    expect(fs.readFileSync(path.join(outside, "oom_score_adj"), "utf8")).toBe("0\n");
    expect(writer.write({ kind: "oom_score_adj", pid: 300 }, "-500")).toMatchObject({ kind: "written" });
    expect(fs.readFileSync(path.join(procRoot, "300", "oom_score_adj"), "utf8")).toBe("-500");
  });
});

describe("guarded writer: non-regular files", () => {
  it("a FIFO, even with a reader waiting, is refused and never written (and the write does not block without one)", () => {
    const { host } = hostWithOutside();
    const writer = createGuardedWriter(host.layout, "/proc");
    const fifo = host.file("victim", "memory.max");
    special.fifo(fifo);
    // A reader holding the FIFO open: the old writer's open succeeded and wrote into it.
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      expect(writer.write(file("victim", "memory", "memory.max"), "1")).toMatchObject({
        kind: "failed",
        errno: "EREFUSED",
        unsafe: "fifo",
      });
      const buf = Buffer.alloc(16);
      let got = 0;
      try {
        got = fs.readSync(reader, buf);
      } catch (err) {
        if ((err as { code?: string }).code !== "EAGAIN") throw err;
      }
      expect(got).toBe(0); // nothing arrived
    } finally {
      fs.closeSync(reader);
    }
    // No reader: O_NONBLOCK makes the open fail at once (ENXIO), reported as the FIFO it is.
    expect(writer.write(file("victim", "memory", "memory.max"), "1")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
      unsafe: "fifo",
    });
  });

  it("a directory, a unix socket or a symlink to a character device where the control file belongs: refused by name", () => {
    const { host } = hostWithOutside();
    const seen: string[] = [];
    const writer = createGuardedWriter(host.layout, "/proc", {
      onUnsafe: (p, reason) => seen.push(`${path.basename(p)}:${reason}`),
    });
    directoryAt(host.file("victim", "memory.high"));
    special.socket(host.file("victim", "pids.max"));
    symlinkAt(host.file("victim", "cpu.max"), "/dev/null");
    expect(writer.write(file("victim", "memory", "memory.high"), "1")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
      unsafe: "directory",
    });
    expect(writer.write(file("victim", "pids", "pids.max"), "1")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
      unsafe: "socket",
    });
    expect(writer.write(file("victim", "cpu", "cpu.max"), "1")).toMatchObject({
      kind: "failed",
      errno: "EREFUSED",
      unsafe: "symlink",
    });
    expect(seen).toEqual(["memory.high:directory", "pids.max:socket", "cpu.max:symlink"]);
  });

  it("a regular file is truncated only after the checks: a refused write leaves a longer old value whole", () => {
    const { host, outside } = hostWithOutside();
    const writer = createGuardedWriter(host.layout, "/proc");
    fs.writeFileSync(path.join(outside, "memory.max"), "123456789\n");
    symlinkAt(host.file("victim", "memory.max"), path.join(outside, "memory.max"));
    writer.write(file("victim", "memory", "memory.max"), "1");
    expect(fs.readFileSync(path.join(outside, "memory.max"), "utf8")).toBe("123456789\n");
    symlinkAt(host.file("victim", "memory.max"), "x");
    fs.rmSync(host.file("victim", "memory.max"));
    fs.writeFileSync(host.file("victim", "memory.max"), "123456789\n");
    expect(writer.write(file("victim", "memory", "memory.max"), "1")).toMatchObject({ kind: "written" });
    expect(host.read("victim", "memory.max")).toBe("1");
  });
});

/**
 * Fuzz: generated trees with symlinks (to outside files and directories, to
 * "..", absolute), FIFOs, sockets and directories at random components, and
 * generated targets with "..", absolute names, NUL bytes, very long names.
 * Whatever the tree and the target, no file outside the root changes and
 * every write returns (a blocking open would hang the run).
 */
describe("guarded writer: fuzzed trees and targets", () => {
  type Shape = "dir" | "symlink_outside" | "symlink_dotdot" | "symlink_abs_file" | "fifo" | "socket" | "file";
  const shapeArb = fc.constantFrom<Shape>(
    "dir",
    "dir",
    "dir",
    "symlink_outside",
    "symlink_dotdot",
    "symlink_abs_file",
    "fifo",
    "socket",
    "file",
  );
  type Leaf = "regular" | "symlink_outside" | "symlink_relative_escape" | "fifo" | "socket" | "directory";
  const leafArb = fc.constantFrom<Leaf>(
    "regular",
    "symlink_outside",
    "symlink_relative_escape",
    "fifo",
    "socket",
    "directory",
  );
  const nameArb = fc.oneof(
    fc.constantFrom("a", "b", "docker", "..", ".", "", "/abs", "a\0b", "x".repeat(300), "/etc", "../../outside"),
    fc.stringMatching(/^[a-z./\0]{1,12}$/),
  );
  const writableFiles: [Controller, string][] = (
    Object.entries(WRITABLE_FILES) as [Controller, readonly string[]][]
  ).flatMap(([c, fs_]) => fs_.map((f): [Controller, string] => [c, f]));

  it("never writes outside the root and never blocks, whatever the tree shape and target", () => {
    const base = tmp("fuzz");
    const counts = { refused: 0, written: 0 };
    fc.assert(
      fc.property(
        fc.array(shapeArb, { minLength: 1, maxLength: 3 }),
        leafArb,
        fc.array(nameArb, { minLength: 0, maxLength: 4 }),
        fc.constantFrom(...writableFiles),
        fc.constantFrom(...V2_CORE_WRITABLE_FILES),
        fc.constantFrom("cgroup_file", "v2_core_file", "oom_score_adj", "tree_path"),
        fc.constantFrom(7, 8, 9, 0, -1, 1.5, Number.NaN, 2 ** 60),
        fc.string({ maxLength: 20 }),
        (shapes, leaf, names, [controller, writable], coreFile, kind, pid, value) => {
          const run = fs.mkdtempSync(path.join(base, "r"));
          const root = path.join(run, "root");
          const procRoot = path.join(run, "proc");
          const outside = path.join(run, "outside");
          fs.mkdirSync(root);
          fs.mkdirSync(procRoot);
          fs.mkdirSync(path.join(outside, "sub"), { recursive: true });
          for (const d of [outside, path.join(outside, "sub")]) {
            for (const [, f] of writableFiles) fs.writeFileSync(path.join(d, f), "precious\n");
            fs.writeFileSync(path.join(d, "oom_score_adj"), "precious\n");
          }
          // The generated tree: root/c0/c1/.../<leaf file>, each component shaped.
          const components = shapes.map((_, i) => `c${i}`);
          let dir = root;
          let reachable = true;
          for (const [i, shape] of shapes.entries()) {
            const p = path.join(dir, components[i] ?? "");
            switch (shape) {
              case "dir":
                fs.mkdirSync(p);
                break;
              case "symlink_outside":
                fs.symlinkSync(outside, p);
                break;
              case "symlink_dotdot":
                fs.symlinkSync(
                  path.join(
                    ..."../"
                      .repeat(i + 2)
                      .split("/")
                      .filter(Boolean),
                    "outside",
                  ),
                  p,
                );
                break;
              case "symlink_abs_file":
                fs.symlinkSync(path.join(outside, "sub"), p);
                break;
              case "fifo":
                special.fifo(p);
                break;
              case "socket":
                special.socket(p);
                break;
              case "file":
                fs.writeFileSync(p, "not a dir\n");
                break;
            }
            if (shape !== "dir") {
              reachable = false;
              break;
            }
            dir = p;
          }
          if (reachable) {
            for (const f of new Set([writable, coreFile, "oom_score_adj"])) {
              const p = path.join(dir, f);
              switch (leaf) {
                case "regular":
                  fs.writeFileSync(p, "old\n");
                  break;
                case "symlink_outside":
                  fs.symlinkSync(path.join(outside, f), p);
                  break;
                case "symlink_relative_escape":
                  fs.symlinkSync(`${"../".repeat(shapes.length + 1)}outside/${f}`, p);
                  break;
                case "fifo":
                  special.fifo(p);
                  break;
                case "socket":
                  special.socket(p);
                  break;
                case "directory":
                  fs.mkdirSync(p);
                  break;
              }
            }
          }
          // /proc/<pid>: 7 a symlinked pid directory, 8 a symlinked file, 9 a real one.
          fs.symlinkSync(outside, path.join(procRoot, "7"));
          fs.mkdirSync(path.join(procRoot, "8"));
          fs.symlinkSync(path.join(outside, "oom_score_adj"), path.join(procRoot, "8", "oom_score_adj"));
          fs.mkdirSync(path.join(procRoot, "9"));
          fs.writeFileSync(path.join(procRoot, "9", "oom_score_adj"), "0\n");

          const cgroup =
            kind === "tree_path"
              ? components.slice(0, shapes.length).join("/")
              : [...components.slice(0, shapes.length), ...names].join("/");
          const target: WriteTarget =
            kind === "v2_core_file"
              ? { kind: "v2_core_file", cgroup, file: coreFile }
              : kind === "oom_score_adj"
                ? { kind: "oom_score_adj", pid }
                : { kind: "cgroup_file", cgroup, controller, file: writable };
          const before = fingerprint(outside);
          const writer = createGuardedWriter(
            v2LayoutAt(root, ["cpuset", "cpu", "io", "memory", "pids", "hugetlb", "blkio", "freezer", "cpuacct"]),
            procRoot,
          );
          const r = writer.write(target, value);
          expect(fingerprint(outside)).toBe(before);
          if (r.kind === "written") {
            const real = fs.realpathSync(r.path);
            const realRoot = fs.realpathSync(target.kind === "oom_score_adj" ? procRoot : root);
            expect(real.startsWith(`${realRoot}/`)).toBe(true);
            expect(fs.lstatSync(r.path).isFile()).toBe(true);
          } else if (r.path !== null) {
            expect(r.errno).toMatch(/^E[A-Z]+$/);
          }
          if (r.kind === "failed" && r.errno === "EREFUSED") counts.refused++;
          if (r.kind === "written") counts.written++;
          fs.rmSync(run, { recursive: true, force: true });
        },
      ),
      // A fixed seed: the floors below are then facts about these 200 trees, not a
      // lottery (with a random seed ~5 writes land on average and the floor flaked).
      // CGWATCH_FUZZ_SEED explores other trees.
      { numRuns: 200, seed: Number(process.env["CGWATCH_FUZZ_SEED"] ?? 20261130) },
    );
    // The generator reaches refusals (the property is not vacuous).
    expect(counts.refused).toBeGreaterThan(30);
    expect(counts.written).toBeGreaterThan(5);
  });
});

/**
 * Signals: process.kill is stubbed, so a refusal that regressed shows up as a
 * red test, never as a signal really sent to init, a process group or the
 * test runner itself.
 */
describe("guarded writer: signals", () => {
  const writer = () => createGuardedWriter(v2LayoutAt(tmp("signals")), "/proc");
  const stubKill = () => vi.spyOn(process, "kill").mockImplementation(() => true);
  afterEach(() => vi.restoreAllMocks());

  it.each([1, 0, -1, -4242, Number.NaN, 1.5])("refuses to signal pid %s (init, process groups, nonsense)", (pid) => {
    const kill = stubKill();
    expect(writer().signal(pid, "SIGKILL")).toMatchObject({ kind: "failed", errno: "EREFUSED" });
    expect(kill).not.toHaveBeenCalled();
  });

  it("refuses to signal cgwatch itself", () => {
    const kill = stubKill();
    const r = writer().signal(process.pid, "SIGKILL");
    expect(r).toMatchObject({ kind: "failed", errno: "EREFUSED" });
    expect(r.kind === "failed" ? r.reason : "").toMatch(/cgwatch itself/);
    expect(kill).not.toHaveBeenCalled();
  });

  it("signals any other pid (2 is the first allowed) and reports ESRCH as failed, not thrown", () => {
    const kill = stubKill();
    expect(writer().signal(2, "SIGKILL")).toMatchObject({ kind: "written", path: "pid 2" });
    expect(kill).toHaveBeenCalledWith(2, "SIGKILL");
    kill.mockImplementation(() => {
      throw Object.assign(new Error("kill ESRCH"), { code: "ESRCH" });
    });
    expect(writer().signal(2, "SIGKILL")).toMatchObject({ kind: "failed", errno: "ESRCH" });
  });
});
