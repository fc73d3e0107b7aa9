import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nativeReads, type NativeReads } from "../../src/cgroup/nativeRead.js";
import { createFileReader, defaultFdBudget, readControlFile } from "../../src/cgroup/read.js";
import { directoryAt, specialFiles, symlinkAt, type SpecialFiles } from "../helpers/hostileTree.js";

describe("file reader", () => {
  it("re-reads a kept fd at offset 0 and sees the new content; gone files are `gone`, not errors", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-read-"));
    const f = path.join(dir, "memory.events");
    fs.writeFileSync(f, "oom_kill 1\n");
    const r = createFileReader(8);
    expect(r.read(f)).toEqual({ kind: "ok", text: "oom_kill 1\n" });
    fs.writeFileSync(f, "oom_kill 22\n");
    expect(r.read(f)).toEqual({ kind: "ok", text: "oom_kill 22\n" });
    expect(r.openCount).toBe(1);
    expect(r.read(path.join(dir, "nope"))).toEqual({ kind: "gone" });
    fs.rmSync(dir, { recursive: true });
    r.close();
    expect(r.openCount).toBe(0);
  });

  it("keeps at most its budget of fds (the rest read one-shot, never evicting), and readOnce leaves the kept ones alone", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-read-"));
    const files = Array.from({ length: 10 }, (_, i) => path.join(dir, `f${i}`));
    for (const f of files) fs.writeFileSync(f, "1\n");
    const r = createFileReader(4);
    const fdsBefore = fs.readdirSync("/proc/self/fd").length;
    for (const f of files) expect(r.read(f).kind).toBe("ok");
    expect(r.openCount).toBe(4);
    expect(fs.readdirSync("/proc/self/fd").length - fdsBefore).toBe(4);
    for (const f of files) expect(r.readOnce(f)).toEqual({ kind: "ok", text: "1\n" });
    expect(r.openCount).toBe(4);
    // Past the budget, files are read fresh every time (not from a stale kept fd).
    fs.writeFileSync(files[9] ?? "", "2\n");
    expect(r.read(files[9] ?? "")).toEqual({ kind: "ok", text: "2\n" });
    expect(r.openCount).toBe(4);
    r.close();
    expect(fs.readdirSync("/proc/self/fd").length).toBe(fdsBefore);
    fs.rmSync(dir, { recursive: true });
  });

  it("forgetDir closes a removed cgroup's kept fds and no one else's (a child cgroup keeps its own)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-read-"));
    fs.mkdirSync(path.join(dir, "child"));
    const own = ["memory.events", "pids.events"].map((n) => path.join(dir, n));
    const child = path.join(dir, "child", "memory.events");
    for (const f of [...own, child]) fs.writeFileSync(f, "x 1\n");
    const r = createFileReader(16);
    for (const f of [...own, child]) r.read(f);
    expect(r.openCount).toBe(3);
    r.forgetDir(dir);
    expect(r.openCount).toBe(1);
    r.forgetDir(`${path.join(dir, "child")}/`);
    expect(r.openCount).toBe(0);
    r.close();
    fs.rmSync(dir, { recursive: true });
  });

  it("the fd budget is half the soft RLIMIT_NOFILE, within [256, 65536]", () => {
    const limits = (soft: string): string =>
      `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                20000                files\n`;
    expect(defaultFdBudget(limits("20000"))).toBe(10000);
    expect(defaultFdBudget(limits("1024"))).toBe(512);
    expect(defaultFdBudget(limits("100"))).toBe(256);
    expect(defaultFdBudget(limits("1048576"))).toBe(65536);
    expect(defaultFdBudget(limits("unlimited"))).toBe(65536);
    expect(defaultFdBudget("garbage")).toBe(4096);
  });
});

/** The addon built here (the one-shot reads go through it); null when it is not built. */
const addon: NativeReads | null = nativeReads();

/**
 * A hostile or broken tree at a watched path: each shape is reported (never
 * read, never blocking the loop), and a kept fd notices a replaced inode.
 * Run twice: one-shot reads through the addon (readAt), and through Node's fs
 * (where the addon is not loaded).
 */
describe.each([
  ["the addon's readAt", addon],
  ["Node's fs", null],
] as const)("file reader on a hostile tree, one-shot reads through %s", (_name, native) => {
  let special: SpecialFiles;
  beforeAll(async () => {
    special = await specialFiles();
  });
  afterAll(() => special.cleanup());

  const setup = (): { dir: string; f: string; problems: string[]; cleared: string[]; clock: { t: number } } & {
    r: ReturnType<typeof createFileReader>;
  } => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-read-hostile-"));
    const f = path.join(dir, "memory.events");
    const problems: string[] = [];
    const cleared: string[] = [];
    const clock = { t: 0 };
    const r = createFileReader({
      maxOpen: 8,
      revalidateMs: 1000,
      native,
      now: () => clock.t,
      hooks: {
        onProblem: (p, reason) => problems.push(`${path.basename(p)}:${reason}`),
        onCleared: (p) => cleared.push(path.basename(p)),
      },
    });
    return { dir, f, problems, cleared, clock, r };
  };

  it("a FIFO with no writer is reported at once, by read, readOnce and readControlFile (an open that blocked would hang this test)", () => {
    const { dir, f, problems, r } = setup();
    special.fifo(f);
    expect(r.read(f)).toMatchObject({ kind: "unsafe", reason: "fifo" });
    expect(r.readOnce(f)).toMatchObject({ kind: "unsafe", reason: "fifo" });
    expect(readControlFile(f)).toMatchObject({ kind: "unsafe", reason: "fifo" });
    expect(r.openCount).toBe(0);
    expect(problems).toEqual(["memory.events:fifo", "memory.events:fifo"]);
    r.close();
    fs.rmSync(dir, { recursive: true });
  });

  it("a socket, a directory, a symlink (even to a good file) and a device are reported by type, not read", () => {
    const { dir, f, r } = setup();
    const good = path.join(dir, "good");
    fs.writeFileSync(good, "oom_kill 1\n");
    const cases: [string, () => void][] = [
      ["socket", () => special.socket(f)],
      ["directory", () => directoryAt(f)],
      ["symlink", () => symlinkAt(f, good)],
      ["symlink", () => symlinkAt(f, "/dev/zero")],
    ];
    for (const [reason, make] of cases) {
      make();
      expect(r.read(f)).toMatchObject({ kind: "unsafe", reason });
      expect(r.readOnce(f)).toMatchObject({ kind: "unsafe", reason });
    }
    expect(readControlFile("/dev/null")).toMatchObject({ kind: "unsafe", reason: "char_device" });
    expect(r.openCount).toBe(0);
    r.close();
    fs.rmSync(dir, { recursive: true });
  });

  it("a kept fd notices its path replaced (renamed over, deleted, turned into a FIFO or a symlink) at the next revalidation", () => {
    const { dir, f, problems, cleared, clock, r } = setup();
    fs.writeFileSync(f, "oom_kill 1\n");
    expect(r.read(f)).toEqual({ kind: "ok", text: "oom_kill 1\n" });
    // Renamed over: a new inode at the path; the kept fd still reads the old one until revalidated.
    fs.writeFileSync(`${f}.new`, "oom_kill 2\n");
    fs.renameSync(`${f}.new`, f);
    clock.t = 1000;
    expect(r.read(f)).toEqual({ kind: "ok", text: "oom_kill 2\n" });
    expect(problems).toEqual(["memory.events:replaced"]);
    expect(cleared).toEqual(["memory.events"]);
    // Deleted: gone, and the fd is released.
    fs.rmSync(f);
    clock.t = 2000;
    expect(r.read(f)).toEqual({ kind: "gone" });
    expect(r.openCount).toBe(0);
    // Turned into a FIFO, then a symlink, while kept.
    fs.writeFileSync(f, "oom_kill 3\n");
    expect(r.read(f).kind).toBe("ok");
    special.fifo(f);
    clock.t = 3000;
    expect(r.read(f)).toMatchObject({ kind: "unsafe", reason: "fifo" });
    fs.writeFileSync(path.join(dir, "other"), "oom_kill 4\n");
    symlinkAt(f, path.join(dir, "other"));
    clock.t = 4000;
    expect(r.read(f)).toMatchObject({ kind: "unsafe", reason: "symlink" });
    expect(problems).toEqual(["memory.events:replaced", "memory.events:fifo", "memory.events:symlink"]);
    // Back to a regular file: read again, the problem clears once.
    fs.rmSync(f);
    fs.writeFileSync(f, "oom_kill 5\n");
    expect(r.read(f)).toEqual({ kind: "ok", text: "oom_kill 5\n" });
    expect(r.read(f)).toEqual({ kind: "ok", text: "oom_kill 5\n" });
    expect(cleared).toEqual(["memory.events", "memory.events"]);
    r.close();
    fs.rmSync(dir, { recursive: true });
  });

  it("between revalidations a kept fd costs no lstat: the replaced inode is seen only once the interval has passed", () => {
    const { dir, f, clock, r } = setup();
    fs.writeFileSync(f, "a\n");
    r.read(f);
    fs.writeFileSync(`${f}.new`, "b\n");
    fs.renameSync(`${f}.new`, f);
    clock.t = 999;
    expect(r.read(f)).toEqual({ kind: "ok", text: "a\n" });
    clock.t = 1000;
    expect(r.read(f)).toEqual({ kind: "ok", text: "b\n" });
    r.close();
    fs.rmSync(dir, { recursive: true });
  });

  it("fuzz: whatever sits at a path (file, FIFO, socket, directory, symlink, nothing), every read returns at once with a verdict and no fd leaks", () => {
    const { dir, f, clock, r } = setup();
    const target = path.join(dir, "target");
    fs.writeFileSync(target, "x 1\n");
    const shapes = ["file", "fifo", "socket", "directory", "symlink", "absent"] as const;
    const fdsBefore = fs.readdirSync("/proc/self/fd").length;
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.constantFrom(...shapes), fc.constantFrom("read", "readOnce"), fc.integer({ min: 0, max: 1500 })),
          { maxLength: 12 },
        ),
        (steps) => {
          for (const [shape, how, advance] of steps) {
            fs.rmSync(f, { recursive: true, force: true });
            const expected = {
              file: "ok",
              fifo: "unsafe",
              socket: "unsafe",
              directory: "unsafe",
              symlink: "unsafe",
              absent: "gone",
            }[shape];
            switch (shape) {
              case "file":
                fs.writeFileSync(f, "x 2\n");
                break;
              case "fifo":
                special.fifo(f);
                break;
              case "socket":
                special.socket(f);
                break;
              case "directory":
                fs.mkdirSync(f);
                break;
              case "symlink":
                fs.symlinkSync(target, f);
                break;
              case "absent":
                break;
            }
            clock.t += advance;
            const got = how === "read" ? r.read(f) : r.readOnce(f);
            // A kept fd may read the previous (regular) inode until revalidated; never anything but these verdicts.
            if (got.kind !== expected) expect(got).toEqual({ kind: "ok", text: "x 2\n" });
            if (got.kind === "ok") expect(got.text).toBe("x 2\n");
          }
        },
      ),
      { numRuns: 150 },
    );
    r.close();
    expect(fs.readdirSync("/proc/self/fd").length).toBe(fdsBefore);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("one-shot reads of a pass", () => {
  const fdCount = (): number => fs.readdirSync("/proc/self/fd").length;

  it.each([
    ["the addon's readAt", addon],
    ["Node's fs", null],
  ] as const)(
    "a run of reads from one directory (%s): each file's own text, a file turned FIFO or symlink mid-run is reported, a removed directory is gone, no fd outlives the loop turn",
    async (_name, native) => {
      const special = await specialFiles();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-read-run-"));
      const at = (n: string): string => path.join(dir, n);
      for (const n of ["a", "b", "c"]) fs.writeFileSync(at(n), `${n} 1\n`);
      const r = createFileReader({ maxOpen: 8, native });
      const before = fdCount();
      const pass = (): string[] =>
        ["a", "b", "c", "missing"].map((n) => {
          const got = r.readOnce(at(n));
          return got.kind === "ok" ? got.text : got.kind === "unsafe" ? got.reason : got.kind;
        });
      expect(pass()).toEqual(["a 1\n", "b 1\n", "c 1\n", "gone"]);
      fs.writeFileSync(at("a"), "a 2\n");
      special.fifo(at("b"));
      fs.symlinkSync(at("a"), at("missing"));
      expect(pass()).toEqual(["a 2\n", "fifo", "c 1\n", "symlink"]);
      fs.rmSync(dir, { recursive: true });
      expect(pass()).toEqual(["gone", "gone", "gone", "gone"]);
      expect(r.openCount).toBe(0);
      await new Promise((resolve) => setImmediate(resolve));
      expect(fdCount()).toBe(before);
      r.close();
      special.cleanup();
    },
  );

  it("readOnce goes through the fd the event path keeps (no open), and keeps none of its own", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-read-kept-"));
    const [kept, other] = [path.join(dir, "memory.events"), path.join(dir, "memory.max")];
    fs.writeFileSync(kept, "oom_kill 1\n");
    fs.writeFileSync(other, "max\n");
    const clock = { t: 0 };
    const r = createFileReader({ maxOpen: 8, revalidateMs: 1000, now: () => clock.t });
    r.read(kept);
    expect(r.readOnce(other)).toEqual({ kind: "ok", text: "max\n" });
    expect(r.openCount).toBe(1);
    // Renamed over: until the kept fd is revalidated, readOnce reads the kept inode, as read does.
    fs.writeFileSync(`${kept}.new`, "oom_kill 2\n");
    fs.renameSync(`${kept}.new`, kept);
    expect(r.readOnce(kept)).toEqual({ kind: "ok", text: "oom_kill 1\n" });
    clock.t = 1000;
    expect(r.readOnce(kept)).toEqual({ kind: "ok", text: "oom_kill 2\n" });
    r.close();
    fs.rmSync(dir, { recursive: true });
  });

  it.each([
    ["the addon's readAt", addon],
    ["Node's fs", null],
  ] as const)(
    "a virtual file longer than a page (/proc/zoneinfo, a seq_file as cgroup files are) comes whole from reads that stop at a short read (%s)",
    (_name, native) => {
      const lines = (t: string): number => t.split("\n").length;
      const whole = fs.readFileSync("/proc/zoneinfo", "utf8");
      expect(whole.length).toBeGreaterThan(4096);
      const r = createFileReader({ maxOpen: 8, native });
      const once = r.readOnce("/proc/zoneinfo");
      const kept = r.read("/proc/zoneinfo");
      r.close();
      for (const got of [once, kept]) {
        expect(got.kind).toBe("ok");
        if (got.kind === "ok") {
          expect(lines(got.text)).toBe(lines(whole));
          expect(got.text.endsWith("\n")).toBe(true);
        }
      }
    },
  );

  it("the addon's readAt is built here, so the tests above cover it (npm run build:native)", () => {
    expect(
      addon,
      "build/Release/cgwatch_native.node lacks readAt: a stale build, run `npm run build:native`",
    ).not.toBeNull();
  });
});
