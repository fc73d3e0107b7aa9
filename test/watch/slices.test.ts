import { describe, expect, it } from "vitest";
import { everySliced, runSliced } from "../../src/watch/slices.js";

describe("sliced work", () => {
  it("processes every item once, in order, yielding to the loop between slices", async () => {
    const seen: number[] = [];
    let immediatesRan = 0;
    // Each item burns ~1 ms, so a 2 ms budget forces many slices.
    const burn = (ms: number): void => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    const items = Array.from({ length: 40 }, (_, i) => i);
    const done = new Promise<void>((resolve) => {
      runSliced(
        items,
        (i) => {
          burn(1);
          seen.push(i);
        },
        2,
        resolve,
      );
    });
    // Something else that wants the loop: it must get turns while the run is going.
    const other = (): void => {
      immediatesRan++;
      if (seen.length < items.length) setImmediate(other);
    };
    setImmediate(other);
    await done;
    expect(seen).toEqual(items);
    expect(immediatesRan).toBeGreaterThan(5);
  });

  it("cancel stops before the next slice", async () => {
    const seen: number[] = [];
    const run = runSliced(
      Array.from({ length: 1000 }, (_, i) => i),
      (i) => {
        const end = performance.now() + 0.2;
        while (performance.now() < end);
        seen.push(i);
      },
      1,
    );
    run.cancel();
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.length).toBeLessThan(1000);
    expect(run.running).toBe(false);
  });

  it("a periodic sweep that is still running is not started again", async () => {
    let sweeps = 0;
    const items = (): number[] => {
      sweeps++;
      return Array.from({ length: 200 }, (_, i) => i);
    };
    const s = everySliced(
      1,
      items,
      () => {
        const end = performance.now() + 0.5;
        while (performance.now() < end);
      },
      { persistent: false, budgetMs: 1 },
    );
    await new Promise((r) => setTimeout(r, 60));
    s.stop();
    // 200 items × 0.5 ms = 100 ms per sweep: in 60 ms only the first one can have started.
    expect(sweeps).toBe(1);
  });
});
