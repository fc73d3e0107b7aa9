import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createFileReader, defaultFdBudget } from "../../src/cgroup/read.js";

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
    const limits = (soft: string): string => `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                20000                files\n`;
    expect(defaultFdBudget(limits("20000"))).toBe(10000);
    expect(defaultFdBudget(limits("1024"))).toBe(512);
    expect(defaultFdBudget(limits("100"))).toBe(256);
    expect(defaultFdBudget(limits("1048576"))).toBe(65536);
    expect(defaultFdBudget(limits("unlimited"))).toBe(65536);
    expect(defaultFdBudget("garbage")).toBe(4096);
  });
});
