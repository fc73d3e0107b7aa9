import { describe, expect, it } from "vitest";
import { createCoalescer } from "../../src/coalesce/coalescer.js";

interface Item {
  readonly k: string | null;
  readonly n: number;
}
const rules = { key: (i: Item) => i.k, merge: (a: Item, b: Item): Item => ({ k: b.k, n: a.n + b.n }) };

describe("createCoalescer", () => {
  it("passes a key's first item at once and opens its window", () => {
    const c = createCoalescer(rules);
    expect(c.offer({ k: "a", n: 1 })).toEqual({ kind: "pass", item: { k: "a", n: 1 }, key: "a" });
    expect(c.openKeys()).toEqual(["a"]);
  });

  it("folds items within the window into one pending item, passed when the window ends", () => {
    const c = createCoalescer(rules);
    c.offer({ k: "a", n: 1 });
    expect(c.offer({ k: "a", n: 2 })).toEqual({ kind: "held", key: "a" });
    expect(c.offer({ k: "a", n: 3 })).toEqual({ kind: "held", key: "a" });
    expect(c.expire("a")).toEqual({ kind: "pass", item: { k: "a", n: 5 } });
    // The follow-up's window: quiet, so the key goes idle and the next item passes at once.
    expect(c.openKeys()).toEqual(["a"]);
    expect(c.expire("a")).toEqual({ kind: "idle" });
    expect(c.openKeys()).toEqual([]);
    expect(c.offer({ k: "a", n: 7 }).kind).toBe("pass");
  });

  it("keeps keys apart and never holds a null key", () => {
    const c = createCoalescer(rules);
    c.offer({ k: "a", n: 1 });
    expect(c.offer({ k: "b", n: 1 }).kind).toBe("pass");
    expect(c.offer({ k: null, n: 1 })).toEqual({ kind: "pass", item: { k: null, n: 1 }, key: null });
    expect(c.offer({ k: null, n: 2 }).kind).toBe("pass");
    expect(c.openKeys()).toEqual(["a", "b"]);
  });

  it("drain hands back every pending item and closes every window", () => {
    const c = createCoalescer(rules);
    c.offer({ k: "a", n: 1 });
    c.offer({ k: "a", n: 2 });
    c.offer({ k: "b", n: 1 });
    expect(c.drain()).toEqual([{ k: "a", n: 2 }]);
    expect(c.openKeys()).toEqual([]);
    expect(c.expire("a")).toEqual({ kind: "idle" });
  });
});
