import { Subject, VirtualTimeScheduler } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { coalescePerKey } from "../../src/coalesce/operator.js";

const rules = {
  key: (s: string) => (s.startsWith("x") ? null : (s[0] ?? null)),
  merge: (a: string, b: string) => a + b.slice(1),
};

describe("coalescePerKey", () => {
  it("first item at once, at most one merged follow-up per window, per key", () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      // a1 @0, a2 @3, a3 @6 (key a); x9 @9 (never held); a4 @30.
      const src = cold("a 2ms b 2ms c 2ms d 20ms e", { a: "a1", b: "a2", c: "a3", d: "x9", e: "a4" });
      // a1 at once; a2+a3 as one follow-up when a1's window ends (@10), which opens 10..20;
      // quiet by 20, so a4 @30 passes at once.
      expectObservable(src.pipe(coalescePerKey(rules, 10))).toBe("a 8ms d m 19ms e", {
        a: "a1",
        d: "x9",
        m: "a23",
        e: "a4",
      });
    });
  });

  it("merges instead of queueing, and a follow-up opens the next window", () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const src = cold("a 1ms b 1ms c 9ms d", { a: "a1", b: "a2", c: "a3", d: "a4" });
      // a1 @0; a2,a3 → "a23" @10 (opens 10..20); a4 @14 is held until 20.
      expectObservable(src.pipe(coalescePerKey(rules, 10))).toBe("a 9ms b 9ms c", { a: "a1", b: "a23", c: "a4" });
    });
  });

  it("completion passes what is pending; unsubscribing cancels timers", () => {
    const source = new Subject<string>();
    const seen: string[] = [];
    let done = false;
    const sub = source
      .pipe(coalescePerKey(rules, 60_000))
      .subscribe({ next: (v) => seen.push(v), complete: () => (done = true) });
    source.next("a1");
    source.next("a2");
    source.next("b1");
    source.complete();
    expect(seen).toEqual(["a1", "b1", "a2"]);
    expect(done).toBe(true);
    sub.unsubscribe();
    const again = new Subject<string>();
    const s2 = again.pipe(coalescePerKey(rules, 60_000)).subscribe();
    again.next("a1");
    s2.unsubscribe(); // a 60 s timer left armed would keep vitest's worker alive
    expect(again.observed).toBe(false);
  });

  it("a follow-up is delivered through followUp, the first item is not; none after unsubscribing", () => {
    const scheduler = new VirtualTimeScheduler();
    const deferred: (() => void)[] = [];
    const run = (): { seen: string[]; source: Subject<string>; stop: () => void } => {
      const source = new Subject<string>();
      const seen: string[] = [];
      const sub = source
        .pipe(coalescePerKey(rules, 10, { scheduler, followUp: (deliver) => deferred.push(deliver) }))
        .subscribe((v) => seen.push(v));
      return { seen, source, stop: () => sub.unsubscribe() };
    };
    const one = run();
    one.source.next("a1");
    one.source.next("a2");
    expect(one.seen).toEqual(["a1"]);
    scheduler.flush(); // a1's window ends: the follow-up is handed over, not delivered
    expect(one.seen).toEqual(["a1"]);
    expect(deferred).toHaveLength(1);
    deferred.shift()?.();
    expect(one.seen).toEqual(["a1", "a2"]);
    const two = run();
    two.source.next("a1");
    two.source.next("a2");
    scheduler.flush();
    two.stop();
    deferred.shift()?.();
    expect(two.seen).toEqual(["a1"]);
  });
});
