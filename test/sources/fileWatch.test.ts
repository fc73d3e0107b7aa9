import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fileWakes, watchFile } from "../../src/sources/fileWatch.js";
import type { Wake } from "../../src/sources/types.js";

let dir: string | null = null;
afterEach(() => {
  if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
  dir = null;
});

/** Blocks the thread like a costly wake handler (re-read, policy call, log line under TCG). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* spin */
  }
}

describe("fileWakes", () => {
  it("a file changing faster than its wakes are handled does not starve the rest of the event loop", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-filewatch-"));
    const file = path.join(dir, "memory.events");
    fs.writeFileSync(file, "high 0\n");
    // Another process rewrites the file every 2 ms for 3 s (kernfs notifies at most every 10 ms), then writes "done".
    const writer = spawn(process.execPath, [
      "-e",
      `const fs=require("fs");let n=0;const end=Date.now()+3000;const t=setInterval(()=>{if(Date.now()>end){clearInterval(t);fs.writeFileSync(${JSON.stringify(file)},"done\\n");return}fs.writeFileSync(${JSON.stringify(file)},"high "+(++n)+"\\n")},2)`,
    ]);
    const writerDone = new Promise<void>((resolve) => writer.on("exit", () => resolve()));
    let wakes = 0;
    const sub = fileWakes("a", "memory.events", file, { persistent: false }).subscribe(() => {
      wakes++;
      busy(30);
    });
    try {
      // Once the storm runs, a timer must still get its turn while the writer goes on:
      // it reads what the writer last wrote, which is "done" only if the timer waited for the storm to end.
      await new Promise((r) => setTimeout(r, 300));
      const seenByTimer = await new Promise<string>((resolve) =>
        setTimeout(() => resolve(fs.readFileSync(file, "utf8")), 20),
      );
      await writerDone;
      expect(wakes).toBeGreaterThan(0);
      expect(seenByTimer).not.toBe("done\n");
    } finally {
      sub.unsubscribe();
      writer.kill();
    }
  });

  it("one wake covers the notifications noted before it runs, timed at the first", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-filewatch-"));
    const file = path.join(dir, "pids.events");
    fs.writeFileSync(file, "max 0\n");
    const ats: number[] = [];
    let t = 0;
    const sub = fileWakes("a", "pids.events", file, { persistent: false, now: () => ++t }).subscribe((w) =>
      ats.push(w.at),
    );
    try {
      await new Promise((r) => setTimeout(r, 50));
      fs.writeFileSync(file, "max 1\n");
      await new Promise((r) => setTimeout(r, 200));
      expect(ats.length).toBeGreaterThanOrEqual(1);
      expect(ats[0]).toBe(1);
    } finally {
      sub.unsubscribe();
    }
  });
});

describe("watchFile", () => {
  const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it("is null for a file that does not exist, and fileWakes then completes", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-filewatch-"));
    const gone = path.join(dir, "memory.events");
    expect(watchFile("a", "memory.events", gone, { persistent: false }, { onWake: () => undefined })).toBeNull();
    const completed = await new Promise<boolean>((resolve) => {
      fileWakes("a", "memory.events", gone, { persistent: false }).subscribe({ complete: () => resolve(true) });
    });
    expect(completed).toBe(true);
  });

  it("each watch wakes its own sink until it is ended, and ending one leaves the other going", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-filewatch-"));
    const a = path.join(dir, "a.events");
    const b = path.join(dir, "b.events");
    fs.writeFileSync(a, "0\n");
    fs.writeFileSync(b, "0\n");
    const woke: Wake[] = [];
    const sink = { onWake: (w: Wake) => woke.push(w) };
    const wa = watchFile("ca", "memory.events", a, { persistent: false }, sink);
    const wb = watchFile("cb", "pids.events", b, { persistent: false }, sink);
    try {
      fs.writeFileSync(a, "1\n");
      fs.writeFileSync(b, "1\n");
      await vi.waitFor(() => expect(woke.map((w) => w.cgroup).sort()).toEqual(["ca", "cb"]), { timeout: 5000 });
      expect(woke.find((w) => w.cgroup === "cb")).toMatchObject({ kind: "file_changed", file: "pids.events" });
      wa?.unsubscribe();
      woke.length = 0;
      fs.writeFileSync(a, "2\n");
      fs.writeFileSync(b, "2\n");
      await vi.waitFor(() => expect(woke.map((w) => w.cgroup)).toContain("cb"), { timeout: 5000 });
      await settle(100);
      expect(woke.map((w) => w.cgroup)).not.toContain("ca");
    } finally {
      wa?.unsubscribe();
      wb?.unsubscribe();
    }
  });

  it("a notification noted before the watch ends is not delivered after it", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-filewatch-"));
    const a = path.join(dir, "a.events");
    fs.writeFileSync(a, "0\n");
    let woke = 0;
    let noted = 0;
    // The clock is read when a notification is noted: end the watch between that and its wake.
    const w = watchFile(
      "ca",
      "memory.events",
      a,
      {
        persistent: false,
        now: () => {
          noted++;
          queueMicrotask(() => w?.unsubscribe()); // after the notification's callback, before its wake
          return 0;
        },
      },
      { onWake: () => woke++ },
    );
    fs.writeFileSync(a, "1\n");
    await vi.waitFor(() => expect(noted).toBe(1), { timeout: 5000 });
    await settle(100);
    expect(woke).toBe(0);
  });
});
