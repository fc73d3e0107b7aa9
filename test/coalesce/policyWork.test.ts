import { Subject } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import type { WatchdogEvent } from "../../src/events/types.js";
import { coalescePerKey } from "../../src/coalesce/operator.js";
import {
  COALESCED_KINDS,
  POLICY_COALESCE_MS,
  coalescePolicyWork,
  policyWorkRules,
} from "../../src/coalesce/policyWork.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const high = (cgroup: string, before: number, after: number, at: number): WatchdogEvent => ({
  kind: "memory_high",
  cgroup,
  at,
  source: "inotify",
  counter: { before, after },
});
const pressure = (cgroup: string, at: number, avg10: number): WatchdogEvent => ({
  kind: "memory_pressure",
  cgroup,
  at,
  source: "psi",
  resource: "memory",
  someAvg10: avg10,
});

describe("policyWorkRules", () => {
  it("coalesces memory_high and memory_pressure per cgroup and kind, nothing else", () => {
    expect([...COALESCED_KINDS].sort()).toEqual(["memory_high", "memory_pressure"]);
    expect(policyWorkRules.key(high("a", 0, 1, 0))).not.toBe(policyWorkRules.key(high("b", 0, 1, 0)));
    expect(policyWorkRules.key(high("a", 0, 1, 0))).not.toBe(policyWorkRules.key(pressure("a", 0, 0)));
    expect(
      policyWorkRules.key({
        kind: "memory_max",
        cgroup: "a",
        at: 0,
        source: "inotify",
        counter: { before: 0, after: 1 },
      }),
    ).toBeNull();
    expect(
      policyWorkRules.key({
        kind: "oom_kill",
        cgroup: "a",
        at: 0,
        source: "inotify",
        counter: { before: 0, after: 1 },
      }),
    ).toBeNull();
    expect(policyWorkRules.key({ kind: "cgroup_removed", cgroup: "a", at: 0, source: "inotify" })).toBeNull();
  });

  it("a memory_high follow-up spans every change it stands for", () => {
    expect(policyWorkRules.merge(high("a", 3, 5, 10), high("a", 5, 9, 20))).toEqual(high("a", 3, 9, 20));
  });

  it("a memory_pressure follow-up is the latest reading", () => {
    expect(policyWorkRules.merge(pressure("a", 10, 1.5), pressure("a", 20, 7.25))).toEqual(pressure("a", 20, 7.25));
  });

  it("a burst of memory_high in one cgroup costs one call at once and one follow-up", () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const src = cold("a 9ms b 9ms c 9ms d", {
        a: high("a", 0, 1, 0),
        b: high("a", 1, 2, 10),
        c: high("b", 0, 4, 20),
        d: high("a", 2, 3, 30),
      });
      expectObservable(src.pipe(coalescePerKey(policyWorkRules, 1000))).toBe("a 19ms c 979ms f", {
        a: high("a", 0, 1, 0),
        c: high("b", 0, 4, 20),
        f: high("a", 1, 3, 30),
      });
    });
  });

  it("an event the rules never hold passes synchronously", () => {
    const s = new Subject<WatchdogEvent>();
    const seen: string[] = [];
    const sub = s.pipe(coalescePerKey(policyWorkRules, 1000)).subscribe((e) => seen.push(e.kind));
    s.next(high("a", 0, 1, 0));
    s.next({ kind: "oom_kill", cgroup: "a", at: 1, source: "inotify", counter: { before: 0, after: 1 } });
    s.next(high("a", 1, 2, 2));
    expect(seen).toEqual(["memory_high", "oom_kill"]);
    sub.unsubscribe();
  });
});

describe("coalescePolicyWork (the daemon's operator before the policies)", () => {
  const run = (context: {
    recording: boolean;
    isWatched: (c: string) => boolean;
  }): { source: Subject<WatchdogEvent>; seen: WatchdogEvent[]; stop: () => void } => {
    const source = new Subject<WatchdogEvent>();
    const seen: WatchdogEvent[] = [];
    const sub = source.pipe(coalescePolicyWork(context)).subscribe((e) => seen.push(e));
    return { source, seen, stop: () => sub.unsubscribe() };
  };

  it("delivers a follow-up after its second, from setImmediate", async () => {
    const r = run({ recording: false, isWatched: () => true });
    r.source.next(high("a", 0, 1, 0));
    r.source.next(high("a", 1, 2, 5));
    r.source.next(high("a", 2, 4, 9));
    expect(r.seen).toEqual([high("a", 0, 1, 0)]);
    await sleep(POLICY_COALESCE_MS + 200); // real time: the follow-up's timer, then its setImmediate
    expect(r.seen).toEqual([high("a", 0, 1, 0), high("a", 1, 4, 9)]);
    r.stop();
  });

  it("drops a follow-up whose cgroup is no longer watched, never a cgroup_removed", async () => {
    let watched = true;
    const r = run({ recording: false, isWatched: () => watched });
    r.source.next(high("a", 0, 1, 0));
    r.source.next(high("a", 1, 2, 5));
    watched = false;
    r.source.next({ kind: "cgroup_removed", cgroup: "a", at: 6, source: "inotify" });
    await sleep(POLICY_COALESCE_MS + 200); // real time: the follow-up's timer, then its setImmediate
    expect(r.seen.map((e) => e.kind)).toEqual(["memory_high", "cgroup_removed"]);
    r.stop();
  });

  it("holds nothing while recording", () => {
    const r = run({ recording: true, isWatched: () => true });
    r.source.next(high("a", 0, 1, 0));
    r.source.next(high("a", 1, 2, 5));
    expect(r.seen).toHaveLength(2);
    r.stop();
  });
});
