import { describe, expect, it } from "vitest";
import type { MemoryCounterEvent, OomVictim } from "../../src/events/types.js";
import type { OomForensics } from "../../src/oom/forensics.js";
import { createOomReporter } from "../../src/oom/reporter.js";

const victim = (pid: number): OomVictim => ({
  pid,
  comm: "hog",
  oomMemcg: "c",
  taskMemcg: "c",
  constraint: "CONSTRAINT_MEMCG",
  uid: 0,
  totalVmBytes: 1,
  anonRssBytes: 1,
  fileRssBytes: 0,
  shmemRssBytes: 0,
  oomScoreAdj: 0,
  kernelUsec: pid,
});
const kill = (after: number): MemoryCounterEvent => ({
  kind: "oom_kill",
  cgroup: "c",
  at: after,
  source: "eventfd",
  counter: { before: after - 1, after },
});

/** Forensics whose reports arrive when the test says. */
function scripted() {
  const ready: OomVictim[] = [];
  const waiting: { max: number; done: (v: OomVictim[]) => void }[] = [];
  const f: OomForensics = {
    available: true,
    claim: (_c, max) => ready.splice(0, max),
    claimSoon: (_c, max, done) => {
      const now = ready.splice(0, max);
      if (now.length > 0) done(now);
      else waiting.push({ max, done });
    },
    close: () => undefined,
  };
  return {
    f,
    report(v: OomVictim) {
      const w = waiting.shift();
      if (w === undefined) ready.push(v);
      else w.done([v]);
    },
  };
}

describe("OOM reporter", () => {
  it("a victim already reported rides on the event and its line is written at once", () => {
    const s = scripted();
    const lines: string[] = [];
    const r = createOomReporter(s.f, (e, v) => lines.push(`${e.counter.after}:${v.map((x) => x.pid).join(",")}`));
    s.report(victim(7));
    expect(r.attach(kill(1)).victim?.pid).toBe(7);
    expect(lines).toEqual(["1:7"]);
  });

  it("a late report delays its line, and the next kill's line waits behind it: lines stay in event order", async () => {
    const s = scripted();
    const lines: string[] = [];
    const r = createOomReporter(s.f, (e, v) => lines.push(`${e.counter.after}:${v.map((x) => x.pid).join(",")}`));
    expect(r.attach(kill(1)).victim).toBeUndefined();
    await Promise.resolve();
    s.report(victim(8)); // answers kill 1's wait
    s.report(victim(9)); // already there for kill 2
    r.attach(kill(2));
    await new Promise((res) => setTimeout(res, 10));
    expect(lines).toEqual(["1:8", "2:9"]);
  });

  it("without forensics every line is written at once, with no victims", () => {
    const lines: number[] = [];
    const r = createOomReporter(null, (e, v) => lines.push(e.counter.after * 10 + v.length));
    r.attach(kill(1));
    r.attach(kill(2));
    expect(lines).toEqual([10, 20]);
  });
});
