import { describe, expect, it } from "vitest";
import { parsePsiTrigger } from "../../src/config/psi.js";

const window = (w: string): string => {
  const r = parsePsiTrigger(`some 100ms ${w}`);
  return r.kind === "ok" ? `ok ${r.trigger?.windowUs}` : "invalid";
};

describe("parsePsiTrigger: the kernel's rules", () => {
  it("window bounds 500ms..10s, inclusive (min-1, min, max, max+1)", () => {
    expect(window("499999")).toBe("invalid");
    expect(window("500ms")).toBe("ok 500000");
    expect(window("10s")).toBe("ok 10000000");
    expect(window("10000001")).toBe("invalid");
  });

  it("stall must be above 0 and at most the window", () => {
    expect(parsePsiTrigger("full 1s 1s")).toEqual({
      kind: "ok",
      trigger: { stall: "full", thresholdUs: 1_000_000, windowUs: 1_000_000, kernel: "full 1000000 1000000" },
    });
    expect(parsePsiTrigger("full 1000001 1s").kind).toBe("invalid");
    expect(parsePsiTrigger("some 0 1s").kind).toBe("invalid");
  });

  it("bare integers are microseconds (the kernel's syntax), units are durations", () => {
    const r = parsePsiTrigger("  some   150000   1s ");
    expect(r.kind === "ok" && r.trigger?.kernel).toBe("some 150000 1000000");
    expect(parsePsiTrigger("some 1500us 1s").kind === "ok").toBe(true);
  });

  it('"off" disables; anything else malformed says what it expected', () => {
    expect(parsePsiTrigger("off")).toEqual({ kind: "ok", trigger: null });
    for (const bad of ["some 1s", "every 1s 2s", "some 1x 2s", "some 1s 2s 3s", ""]) {
      const r = parsePsiTrigger(bad);
      expect(r.kind, bad).toBe("invalid");
    }
  });
});
