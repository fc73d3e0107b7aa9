/**
 * Boundary tables for every guardrail (min-1, min, min+1, max-1, max,
 * max+1), and cooldown / rate limit on a fake clock.
 */
import { describe, expect, it } from "vitest";
import {
  guardrailsForPolicy,
  DEFAULT_GUARDRAILS,
  type CpuGuardrails,
  type MemoryGuardrails,
} from "../../src/actions/guardrailConfig.js";
import {
  checkBelowUsage,
  checkCooldown,
  checkCpuBounds,
  checkCpuStep,
  checkEffect,
  checkMemoryCeiling,
  checkMemoryFloor,
  checkMemoryStep,
  checkProtected,
  fullBucket,
  noteCooldown,
  ownProtectedSet,
  recordCooldown,
  takeToken,
  type TokenBucket,
} from "../../src/actions/guardrails.js";
import { OPEN_GUARDRAILS, MiB, fakeClock } from "./helpers.js";

const NONE: MemoryGuardrails = {
  ceilingFractionOfHost: null,
  ceilingBytes: null,
  floorBytes: null,
  maxStepFraction: null,
  maxStepBytes: null,
};
const NO_CPU: CpuGuardrails = { minCores: null, maxCores: null, maxStepFactor: null };
const pass = (r: unknown): boolean => r === null;

describe("memory ceiling", () => {
  const host = 1000 * MiB;
  it("fraction of host memory: boundary table", () => {
    const cfg = { ...NONE, ceilingFractionOfHost: 0.5 };
    const max = 500 * MiB;
    const rows: [number | null, boolean][] = [
      [max - 1, true],
      [max, true],
      [max + 1, false],
      [null, false],
    ];
    for (const [to, ok] of rows) expect(pass(checkMemoryCeiling(to, cfg, host)), `to=${to}`).toBe(ok);
    expect(checkMemoryCeiling(max + 1, cfg, host)?.guardrail).toBe("memory_ceiling");
  });
  it("absolute ceiling, and the lower of the two wins", () => {
    const cfg = { ...NONE, ceilingFractionOfHost: 0.9, ceilingBytes: 300 * MiB };
    const rows: [number, boolean][] = [
      [300 * MiB - 1, true],
      [300 * MiB, true],
      [300 * MiB + 1, false],
    ];
    for (const [to, ok] of rows) expect(pass(checkMemoryCeiling(to, cfg, host)), `to=${to}`).toBe(ok);
  });
  it("no ceiling configured: even 'max' passes", () => {
    expect(checkMemoryCeiling(null, NONE, host)).toBeNull();
  });
});

describe("memory floor", () => {
  it("boundary table", () => {
    const min = 16 * MiB;
    const cfg = { ...NONE, floorBytes: min };
    const rows: [number | null, boolean][] = [
      [min - 1, false],
      [min, true],
      [min + 1, true],
      [null, true],
    ];
    for (const [to, ok] of rows) expect(pass(checkMemoryFloor(to, cfg)), `to=${to}`).toBe(ok);
    expect(checkMemoryFloor(min - 1, cfg)?.guardrail).toBe("memory_floor");
  });
});

describe("memory max step: |to - from| <= max(fraction × from, bytes)", () => {
  const from = 100 * MiB;
  it("fraction: raise and lower boundary table", () => {
    const cfg = { ...NONE, maxStepFraction: 0.5 };
    const step = 50 * MiB;
    const rows: [number, boolean][] = [
      [from + step - 1, true],
      [from + step, true],
      [from + step + 1, false],
      [from - step + 1, true],
      [from - step, true],
      [from - step - 1, false],
    ];
    for (const [to, ok] of rows) expect(pass(checkMemoryStep(from, to, cfg)), `to=${to}`).toBe(ok);
  });
  it("bytes: boundary table; the larger of the two bounds applies", () => {
    const cfg = { ...NONE, maxStepFraction: 0.1, maxStepBytes: 64 * MiB }; // 10 MiB vs 64 MiB → 64 MiB
    const rows: [number, boolean][] = [
      [from + 64 * MiB - 1, true],
      [from + 64 * MiB, true],
      [from + 64 * MiB + 1, false],
    ];
    for (const [to, ok] of rows) expect(pass(checkMemoryStep(from, to, cfg)), `to=${to}`).toBe(ok);
  });
  it("from unlimited: no step to measure; to unlimited: refused when a step is set", () => {
    expect(checkMemoryStep(null, 10 * MiB, { ...NONE, maxStepBytes: 1 })).toBeNull();
    expect(checkMemoryStep(from, null, { ...NONE, maxStepBytes: 1 })?.guardrail).toBe("memory_step");
    expect(checkMemoryStep(from, null, NONE)).toBeNull();
  });
});

describe("never below current usage unless allowBelowUsage", () => {
  const usage = 80 * MiB;
  const from = 100 * MiB;
  it("boundary table around usage", () => {
    const rows: [number, boolean][] = [
      [usage - 1, false],
      [usage, true],
      [usage + 1, true],
    ];
    for (const [to, ok] of rows) expect(pass(checkBelowUsage(from, to, usage, false)), `to=${to}`).toBe(ok);
    expect(checkBelowUsage(from, usage - 1, usage, false)?.guardrail).toBe("below_usage");
  });
  it("allowBelowUsage lets it through; raising is never checked", () => {
    expect(checkBelowUsage(from, 1, usage, true)).toBeNull();
    expect(checkBelowUsage(10 * MiB, 20 * MiB, usage, false)).toBeNull(); // raise, still below usage: fine
  });
  it("lowering with unknown usage is refused", () => {
    expect(checkBelowUsage(from, 50 * MiB, null, false)?.guardrail).toBe("below_usage");
  });
});

describe("CPU quota bounds (cores = quota/period)", () => {
  it("min and max cores boundary table", () => {
    const cfg = { ...NO_CPU, minCores: 0.5, maxCores: 2 };
    const period = 100_000;
    const rows: [number | null, boolean][] = [
      [49_999, false],
      [50_000, true],
      [50_001, true],
      [199_999, true],
      [200_000, true],
      [200_001, false],
      [null, false],
    ];
    for (const [quota, ok] of rows)
      expect(pass(checkCpuBounds(quota === null ? null : quota / period, cfg)), `quota=${quota}`).toBe(ok);
  });
  it("max step factor boundary table (both directions)", () => {
    const cfg = { ...NO_CPU, maxStepFactor: 2 };
    const from = 1; // core
    const rows: [number, boolean][] = [
      [1.9999, true],
      [2, true],
      [2.0001, false],
      [0.5001, true],
      [0.5, true],
      [0.4999, false],
    ];
    for (const [to, ok] of rows) expect(pass(checkCpuStep(from, to, cfg)), `to=${to}`).toBe(ok);
    expect(checkCpuStep(from, null, cfg)?.guardrail).toBe("cpu_step");
    expect(checkCpuStep(null, 64, cfg)).toBeNull();
  });
});

describe("protected cgroups", () => {
  const own = ownProtectedSet(["process_api/abc", ""]);
  it("cgwatch's own cgroup and every ancestor, the root included", () => {
    for (const c of ["process_api/abc", "process_api", ""])
      expect(checkProtected(c, [], own)?.guardrail, c).toBe("protected_cgroup");
    expect(checkProtected("process_api/abc/child", [], own)).toBeNull();
    expect(checkProtected("process_api/other", [], own)).toBeNull();
  });
  it("configured: exact entries and /** subtrees", () => {
    const cfg = ["system.slice/sshd.service", "/kubepods/critical/**"];
    expect(checkProtected("system.slice/sshd.service", cfg, own)).not.toBeNull();
    expect(checkProtected("system.slice/sshd.service/x", cfg, own)).toBeNull();
    expect(checkProtected("kubepods/critical", cfg, own)).not.toBeNull();
    expect(checkProtected("kubepods/critical/pod1", cfg, own)).not.toBeNull();
    expect(checkProtected("kubepods/criticality", cfg, own)).toBeNull();
  });
  it("a policy override adds protection, never removes it", () => {
    const settings = {
      global: { ...OPEN_GUARDRAILS, protectedCgroups: ["a"] },
      perPolicy: { p: { protectedCgroups: ["b"], dryRun: true } },
    };
    const eff = guardrailsForPolicy(settings, "p");
    expect(eff.protectedCgroups).toEqual(["a", "b"]);
    expect(eff.dryRun).toBe(true);
    expect(guardrailsForPolicy(settings, "other").dryRun).toBe(false);
  });
});

describe("cooldown per cgroup + action kind (fake clock)", () => {
  it("boundary table around cooldownMs", () => {
    const clock = fakeClock();
    const cooldown = 30_000;
    const state = recordCooldown(new Map(), "a", "set_memory_limit", clock.now());
    const rows: [number, boolean][] = [
      [cooldown - 1, false],
      [cooldown, true],
      [cooldown + 1, true],
    ];
    for (const [elapsed, ok] of rows) {
      expect(
        pass(checkCooldown(state, "a", "set_memory_limit", clock.now() + elapsed, cooldown)),
        `elapsed=${elapsed}`,
      ).toBe(ok);
    }
    expect(checkCooldown(state, "a", "set_memory_limit", clock.now() + 1, cooldown)?.guardrail).toBe("cooldown");
  });
  it("other cgroups and other kinds are independent", () => {
    const state = recordCooldown(new Map(), "a", "set_memory_limit", 0);
    expect(checkCooldown(state, "b", "set_memory_limit", 1, 30_000)).toBeNull();
    expect(checkCooldown(state, "a", "set_swappiness", 1, 30_000)).toBeNull();
  });
  it("recordCooldown leaves its input as it was; noteCooldown updates the owner's map in place, the same entry", () => {
    const held = new Map<string, number>();
    const copy = recordCooldown(held, "a", "set_memory_limit", 5);
    expect(held.size).toBe(0);
    noteCooldown(held, "a", "set_memory_limit", 5);
    expect([...held]).toEqual([...copy]);
    noteCooldown(held, "a", "set_memory_limit", 9);
    expect(held.size).toBe(1);
    expect(checkCooldown(held, "a", "set_memory_limit", 9 + 29_999, 30_000)?.guardrail).toBe("cooldown");
    expect(checkCooldown(held, "a", "set_memory_limit", 9 + 30_000, 30_000)).toBeNull();
  });
});

describe("global rate limit: token bucket (fake clock)", () => {
  const cfg = { perMinute: 60, burst: 3 }; // one token per 1000 ms
  it("a full bucket allows burst actions at once, then refuses", () => {
    let b: TokenBucket = fullBucket(cfg, 0);
    for (let i = 0; i < 3; i++) {
      const r = takeToken(b, cfg, 0);
      expect(r.ok, `take ${i}`).toBe(true);
      b = r.bucket;
    }
    const r = takeToken(b, cfg, 0);
    expect(r.ok).toBe(false);
    expect(r.ok ? null : r.rejection.guardrail).toBe("rate_limit");
  });
  it("refill boundary: 999 ms no, 1000 ms yes, 1001 ms yes", () => {
    const empty: TokenBucket = { tokens: 0, at: 0 };
    const rows: [number, boolean][] = [
      [999, false],
      [1000, true],
      [1001, true],
    ];
    for (const [t, ok] of rows) expect(takeToken(empty, cfg, t).ok, `t=${t}`).toBe(ok);
  });
  it("refill is capped at burst", () => {
    let b: TokenBucket = { tokens: 0, at: 0 };
    let allowed = 0;
    for (let i = 0; i < 10; i++) {
      const r = takeToken(b, cfg, 3_600_000); // an hour later
      b = r.bucket;
      if (r.ok) allowed++;
    }
    expect(allowed).toBe(3);
  });
});

describe("checkEffect composes the value guardrails", () => {
  it("a reservation is only ceiling-checked; a limit also floor/usage/step", () => {
    const cfg = { ...DEFAULT_GUARDRAILS, memory: { ...NONE, floorBytes: 16 * MiB, ceilingBytes: 1000 * MiB } };
    expect(
      checkEffect(
        { kind: "memory", field: "reservation", from: null, to: 1 * MiB, usage: null, allowBelowUsage: true },
        cfg,
        4096 * MiB,
      ),
    ).toBeNull();
    expect(
      checkEffect(
        { kind: "memory", field: "limit", from: null, to: 1 * MiB, usage: 0, allowBelowUsage: true },
        cfg,
        4096 * MiB,
      )?.guardrail,
    ).toBe("memory_floor");
    expect(
      checkEffect(
        { kind: "memory", field: "high", from: null, to: 2000 * MiB, usage: 0, allowBelowUsage: true },
        cfg,
        4096 * MiB,
      )?.guardrail,
    ).toBe("memory_ceiling");
  });
});
