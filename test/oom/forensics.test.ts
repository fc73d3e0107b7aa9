import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createOomForensics, type OomForensics } from "../../src/oom/forensics.js";
import type { KmsgRecord } from "../../src/oom/kmsg.js";
import { createScratchCgroup, describeRealV1, hogArgs, waitExit } from "../helpers/realCgroup.js";

/** A fake /dev/kmsg: records pushed by the test come out of the next read. */
function fakeKmsg() {
  const queue: KmsgRecord[] = [];
  let seq = 0;
  return {
    push: (message: string) => queue.push({ priority: 3, seq: seq++, usec: seq * 10, message }),
    open: () => ({ kind: "ok" as const, reader: { read: () => queue.splice(0), close: () => undefined } }),
  };
}

const summary = (memcg: string, pid: number, task = "hog") =>
  `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/${memcg},task_memcg=/${memcg},task=${task},pid=${pid},uid=0`;
const killed = (pid: number, comm = "hog") =>
  `Memory cgroup out of memory: Killed process ${pid} (${comm}) total-vm:31832kB, anon-rss:30208kB, file-rss:588kB, shmem-rss:0kB, UID:0 pgtables:100kB oom_score_adj:0`;

describe("OOM forensics", () => {
  let f: OomForensics | null = null;
  afterEach(() => f?.close());

  it("hands a victim to the first event of its cgroup and of each ancestor, once each", () => {
    const k = fakeKmsg();
    f = createOomForensics({ open: k.open, persistent: false });
    k.push(summary("a/web", 41));
    k.push(killed(41));
    expect(f.claim("a/other", 1)).toEqual([]);
    expect(f.claim("a/web", 1)).toMatchObject([
      { pid: 41, comm: "hog", anonRssBytes: 30208 * 1024, taskMemcg: "a/web" },
    ]);
    expect(f.claim("a/web", 1)).toEqual([]);
    expect(f.claim("a", 1)).toMatchObject([{ pid: 41 }]);
  });

  it("claimSoon waits for a report logged after the event, and gives up empty after waitMs", async () => {
    const k = fakeKmsg();
    f = createOomForensics({ open: k.open, persistent: false, waitMs: 300 });
    const got = new Promise((res) => f?.claimSoon("b", 1, res));
    setTimeout(() => {
      k.push(summary("b", 7, "java"));
      k.push(killed(7, "java"));
    }, 50);
    expect(await got).toMatchObject([{ pid: 7, comm: "java" }]);
    const none = await new Promise((res) => f?.claimSoon("c", 1, res));
    expect(none).toEqual([]);
  });

  it("unreadable /dev/kmsg is said once; claims are empty and immediate", async () => {
    const said: string[] = [];
    f = createOomForensics({
      open: () => ({ kind: "unavailable", reason: "/dev/kmsg: EACCES" }),
      onUnavailable: (r) => said.push(r),
      persistent: false,
    });
    expect(f.available).toBe(false);
    expect(f.claim("x", 1)).toEqual([]);
    expect(await new Promise((res) => f?.claimSoon("x", 1, res))).toEqual([]);
    expect(said).toEqual(["/dev/kmsg: EACCES"]);
  });
});

describeRealV1("OOM victim from the real /dev/kmsg", ["memory"], () => {
  it("a hog OOM-killed in a 30M cgroup is named with its pid and rss; the backlog before start is not parsed", async () => {
    const bootUsecAtOpen = Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1e6;
    const f = createOomForensics({ persistent: false, waitMs: 3000 });
    const s = createScratchCgroup(["memory"], "kmsg");
    try {
      expect(f.available).toBe(true);
      // Nothing from before createOomForensics: the machine's history (this host has OOM reports
      // in it) is skipped; other helpers' OOMs from now on may show up, and are not old.
      expect(f.claim("", 1000).filter((v) => v.kernelUsec < bootUsecAtOpen - 1e6)).toEqual([]);
      s.write("memory", "memory.limit_in_bytes", String(30 * 1024 * 1024));
      try {
        s.write("memory", "memory.memsw.limit_in_bytes", String(30 * 1024 * 1024));
      } catch {
        /* no swap accounting on this kernel */
      }
      const [cmd, args] = hogArgs(150, 1);
      const hog = s.spawnInside(cmd, args, 20_000);
      const exit = await waitExit(hog);
      expect(exit.signal).toBe("SIGKILL");
      const victims = await new Promise<unknown[]>((res) => f.claimSoon(s.cgroup, 1, res));
      expect(victims).toMatchObject([
        { pid: hog.pid, comm: "python3", oomMemcg: s.cgroup, taskMemcg: s.cgroup, constraint: "CONSTRAINT_MEMCG" },
      ]);
    } finally {
      f.close();
      await s.remove();
    }
  }, 60_000);
});
