import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createOomAssembler, parseKmsgRecord, parseOomLine, victimIn, type OomVictim } from "../../src/oom/kmsg.js";

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/kmsg");

/** Feeds a captured report through the assembler the way the reader does. */
function victimsOf(file: string): OomVictim[] {
  const text = fs.readFileSync(path.join(FIX, file), "utf8");
  const assemble = createOomAssembler();
  const out: OomVictim[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const rec = file.endsWith(".kmsg")
      ? parseKmsgRecord(line)
      : { usec: 0, message: line.replace(/^\[\s*[\d.]+\]\s/, "") };
    if (rec === null) continue;
    const v = assemble(rec.message, rec.usec);
    if (v !== null) out.push(v);
  }
  return out;
}

describe("OOM reports of several kernel versions", () => {
  it("6.18, captured from /dev/kmsg here: summary + Killed process with UID, pgtables, oom_score_adj", () => {
    expect(victimsOf("linux-6.18-memcg-v1.kmsg")).toEqual([
      {
        pid: 16172,
        comm: "python3",
        oomMemcg: "process_api/6f9e4f41dd7abc08acf5fde1b3cde50d/cgw-kcap-3512",
        taskMemcg: "process_api/6f9e4f41dd7abc08acf5fde1b3cde50d/cgw-kcap-3512",
        constraint: "CONSTRAINT_MEMCG",
        uid: 0,
        totalVmBytes: 118968 * 1024,
        anonRssBytes: 20096 * 1024,
        fileRssBytes: 6564 * 1024,
        shmemRssBytes: 0,
        oomScoreAdj: 0,
        kernelUsec: 452926157,
      },
    ]);
  });
  it("6.1 on cgroup v2, captured in the VM tier", () => {
    expect(victimsOf("linux-6.1-memcg-v2.txt")).toEqual([
      expect.objectContaining({
        pid: 138,
        comm: "python3",
        oomMemcg: "cgwatch-vmtest/victim-127-1",
        taskMemcg: "cgwatch-vmtest/victim-127-1",
        anonRssBytes: 32348 * 1024,
        oomScoreAdj: 0,
      }),
    ]);
  });
  it("3.10: `Task in … killed as a result of limit of …`, no shmem-rss", () => {
    const [v, ...rest] = victimsOf("linux-3.10-memcg.txt");
    expect(rest).toEqual([]);
    expect(v).toMatchObject({
      pid: 4242,
      comm: "hog",
      constraint: null,
      uid: null,
      anonRssBytes: 50900 * 1024,
      shmemRssBytes: null,
      oomScoreAdj: null,
    });
    expect(v?.taskMemcg).toBe("docker/3f4e8a0c2b1d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7");
    expect(v?.oomMemcg).toBe(v?.taskMemcg);
  });
  it("4.9: shmem-rss, still the old memcg line", () => {
    expect(victimsOf("linux-4.9-memcg.txt")).toMatchObject([
      {
        pid: 9876,
        comm: "java",
        shmemRssBytes: 0,
        taskMemcg:
          "kubepods/burstable/pod4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f/9b2f6c1e0d3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4",
      },
    ]);
  });
  it("4.19: the oom-kill summary, reason prefix, no UID yet; the oom_reaper line is not a second victim", () => {
    expect(victimsOf("linux-4.19-memcg.txt")).toMatchObject([
      { pid: 3921, comm: "redis-server", uid: 101, constraint: "CONSTRAINT_MEMCG", oomScoreAdj: null },
    ]);
  });
  it("5.10 global OOM: global_oom, no oom_memcg", () => {
    const [v] = victimsOf("linux-5.10-global.txt");
    expect(v).toMatchObject({
      pid: 77012,
      comm: "stress",
      constraint: "CONSTRAINT_NONE",
      oomMemcg: null,
      taskMemcg: "system.slice/stress-test.service",
      oomScoreAdj: 0,
    });
    expect(victimIn(v as OomVictim, "system.slice/stress-test.service")).toBe(true);
    expect(victimIn(v as OomVictim, "system.slice")).toBe(true);
    expect(victimIn(v as OomVictim, "system.slice/stress")).toBe(false);
  });
  it("a Killed process line whose pid differs from the summary's keeps no memcg from it", () => {
    const a = createOomAssembler();
    a(
      "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a,task=x,pid=1,uid=0",
    );
    expect(
      a("Memory cgroup out of memory: Killed process 2 (y) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB"),
    ).toMatchObject({ pid: 2, taskMemcg: null });
  });
});

describe("parseKmsgRecord", () => {
  it("splits prio,seq,usec,flags;message and drops continuation lines", () => {
    expect(
      parseKmsgRecord(
        "6,339,5140900,-,caller=T1;NET: Registered protocol family 10\n SUBSYSTEM=net\n DEVICE=+net:lo\n",
      ),
    ).toEqual({
      priority: 6,
      seq: 339,
      usec: 5140900,
      message: "NET: Registered protocol family 10",
    });
    expect(parseKmsgRecord("garbage")).toBeNull();
  });
});

describe("fuzz", () => {
  it("never throws and never invents a victim from arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = parseOomLine(s);
        if (r !== null) expect(s).toMatch(/Killed process|oom-kill:|Task in/);
        expect(() => parseKmsgRecord(s)).not.toThrow();
      }),
      { numRuns: 3000 },
    );
  });

  const comm = fc.string({ minLength: 1, maxLength: 15 }).filter((c) => !c.includes("\n"));
  const kb = fc.nat({ max: 2 ** 40 });
  const memcg = fc
    .array(fc.stringMatching(/^[a-zA-Z0-9_.:@-]{1,20}$/), { minLength: 0, maxLength: 5 })
    .map((s) => `/${s.join("/")}`);

  it("round-trips every Killed process variant, whatever the comm holds", () => {
    fc.assert(
      fc.property(
        fc.nat(),
        comm,
        kb,
        kb,
        kb,
        kb,
        fc.nat({ max: 65535 }),
        kb,
        fc.integer({ min: -1000, max: 1000 }),
        fc.integer({ min: 0, max: 3 }),
        (pid, c, vm, anon, file, shmem, uid, pgt, adj, variant) => {
          const base = `Killed process ${pid} (${c}) total-vm:${vm}kB, anon-rss:${anon}kB, file-rss:${file}kB`;
          const text =
            [
              base,
              `${base}, shmem-rss:${shmem}kB`,
              `Memory cgroup out of memory: ${base}, shmem-rss:${shmem}kB`,
              `Out of memory: ${base}, shmem-rss:${shmem}kB, UID:${uid} pgtables:${pgt}kB oom_score_adj:${adj}`,
            ][variant] ?? base;
          const r = parseOomLine(text);
          expect(r).toMatchObject({
            kind: "killed",
            pid,
            comm: c,
            totalVmBytes: vm * 1024,
            anonRssBytes: anon * 1024,
            fileRssBytes: file * 1024,
          });
          if (variant >= 1) expect(r).toMatchObject({ shmemRssBytes: shmem * 1024 });
          if (variant === 3)
            expect(r).toMatchObject({ uid, pgtablesBytes: pgt * 1024, oomScoreAdj: adj, reason: "Out of memory" });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("round-trips the oom-kill summary with or without oom_memcg", () => {
    fc.assert(
      fc.property(
        memcg,
        memcg,
        comm.filter((c) => !c.includes(",task=")),
        fc.nat(),
        fc.nat({ max: 65535 }),
        fc.boolean(),
        (oom, task, c, pid, uid, global) => {
          const mid = global ? "global_oom" : `oom_memcg=${oom}`;
          const r = parseOomLine(
            `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,${mid},task_memcg=${task},task=${c},pid=${pid},uid=${uid}`,
          );
          expect(r).toEqual({
            kind: "summary",
            constraint: "CONSTRAINT_MEMCG",
            oomMemcg: global ? null : oom.slice(1),
            taskMemcg: task.slice(1),
            task: c,
            pid,
            uid,
          });
        },
      ),
      { numRuns: 2000 },
    );
  });
});
