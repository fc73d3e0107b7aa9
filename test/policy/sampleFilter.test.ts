/**
 * meta.sampleOnly and meta.addedOnly: a sample (a cgroup_added) of a cgroup
 * outside a policy's filter never reaches the policy (nor, given the facts,
 * makes the daemon read a snapshot); one inside does; other event kinds are
 * not filtered.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { CgroupSnapshot, CpuSnapshot, MemorySnapshot } from "../../src/cgroup/snapshot.js";
import type { WatchdogEvent } from "../../src/events/types.js";
import { compilePolicies } from "../../src/policy/compile.js";
import { createPolicyEngine } from "../../src/policy/engine.js";
import { validateMeta } from "../../src/policy/meta.js";
import { factsOfSnapshot, sampleConcerns, type SampleFacts } from "../../src/policy/sampleFilter.js";
import { policy, policyDir, recordingLogger, sample, snapshot } from "./support.js";

const cpu = (quotaUs: number | null): CpuSnapshot => ({
  version: 2,
  quotaUs,
  periodUs: 100_000,
  burstUs: null,
  shares: 1024,
  weight: 100,
  usageSeconds: 1,
});
const memory = (version: 1 | 2): MemorySnapshot => ({
  version,
  usageBytes: 1,
  limitBytes: null,
  swapLimitBytes: null,
  reservationBytes: null,
  highBytes: null,
  swappiness: null,
  oomKillDisable: null,
  underOom: null,
  oomKills: 0,
});
/** Answers with the cgroup it saw, so a test can tell which samples reached it. */
const ECHO = `return [{ kind: "annotate", message: cgroup.path }];`;
/** A sample of a v2 cgroup with PSI, as the tracker emits it. */
const psiSample = (cgroup: string, someAvg10: number): WatchdogEvent => ({
  kind: "sample",
  cgroup,
  at: 1000,
  source: "poll",
  someAvg10,
});
const facts = (f: Partial<SampleFacts>): SampleFacts => ({
  cpuQuota: false,
  memoryVersion: null,
  labelled: false,
  memoryPsi: false,
  ...f,
});

describe("meta.sampleOnly", () => {
  it("a sample outside the filter never reaches the policy; one inside does; other kinds pass", async () => {
    const dir = policyDir({
      "quota.js": policy("quota", ECHO, `, sampleOnly: ["cpu_quota"]`).replace(
        `on: ["sample"]`,
        `on: ["sample", "cpu_throttled"]`,
      ),
      "v2.js": policy("v2", ECHO, `, sampleOnly: ["memory_v2", "labelled"]`),
    });
    const engine = await createPolicyEngine({ dirs: [dir], logger: recordingLogger().logger });
    const reached = (cg: string, s: CgroupSnapshot): string[] =>
      engine.evaluateDetailed(sample(cg), s).map((e) => e.policy);

    expect(reached("a", snapshot("a"))).toEqual([]);
    expect(reached("b", snapshot("b", { cpu: cpu(null), memory: memory(2) }))).toEqual([]);
    expect(reached("c", snapshot("c", { cpu: cpu(50_000) }))).toEqual(["quota"]);
    expect(reached("d", snapshot("d", { memory: memory(2), labels: { tier: "x" } }))).toEqual(["v2"]);
    expect(reached("e", snapshot("e", { memory: memory(1), labels: { tier: "x" } }))).toEqual([]);
    expect(reached("f", snapshot("f", { cpu: cpu(1), memory: memory(2), labels: { t: "y" } }))).toEqual([
      "quota",
      "v2",
    ]);
    expect(engine.policies().map((p) => [p.name, p.calls])).toEqual([
      ["quota", 2],
      ["v2", 2],
    ]);
    // Not a sample: delivered whatever the cgroup.
    const throttled = engine.evaluateDetailed(
      {
        kind: "cpu_throttled",
        cgroup: "a",
        at: 1,
        source: "poll",
        periods: { before: 0, after: 1 },
        throttledPeriods: { before: 0, after: 1 },
        throttledSeconds: { before: 0, after: 0.1 },
        ratio: 1,
        intervalSeconds: 1,
      },
      snapshot("a"),
    );
    expect(throttled.map((e) => e.policy)).toEqual(["quota"]);
    engine.close();
  });

  it("wantsEvent applies the filters to the facts the caller passes, before any snapshot", async () => {
    const dir = policyDir({ "quota.js": policy("quota", ECHO, `, sampleOnly: ["cpu_quota"]`) });
    const engine = await createPolicyEngine({ dirs: [dir], logger: recordingLogger().logger });
    expect(engine.wantsEvent("sample", "a", facts({}))).toBe(false);
    expect(engine.wantsEvent("sample", "a", facts({ memoryVersion: 2, labelled: true }))).toBe(false);
    expect(engine.wantsEvent("sample", "a", facts({ cpuQuota: true }))).toBe(true);
    // No facts: as before the filters, every sample of a matching cgroup is wanted (the snapshot decides).
    expect(engine.wantsEvent("sample", "a")).toBe(true);
    expect(engine.wantsEvent("cpu_throttled", "a", facts({}))).toBe(false);
    engine.close();
  });

  it("a policy without sampleOnly gets every sample", async () => {
    const dir = policyDir({ "all.js": policy("all", ECHO) });
    const engine = await createPolicyEngine({ dirs: [dir], logger: recordingLogger().logger });
    expect(engine.wantsEvent("sample", "a", facts({}))).toBe(true);
    expect(engine.evaluate(sample("a"), snapshot("a")).map((p) => p.action)).toEqual([
      { kind: "annotate", message: "a" },
    ]);
    engine.close();
  });

  it("rejects an unknown condition, memory_v1 with memory_v2, and a filter without sample in `on`", () => {
    const bad = (extra: Record<string, unknown>): string => {
      const r = validateMeta({ name: "p", on: ["sample"], ...extra });
      return r.kind === "invalid" ? r.reason : "ok";
    };
    expect(bad({ sampleOnly: ["cpu_quota", "memory_v2"] })).toBe("ok");
    expect(bad({ sampleOnly: ["quota"] })).toMatch(
      /meta.sampleOnly: unknown condition "quota" \(known: cpu_quota, memory_v1, memory_v2, labelled, memory_psi\)/,
    );
    expect(bad({ sampleOnly: [] })).toMatch(/non-empty array/);
    expect(bad({ sampleOnly: "cpu_quota" })).toMatch(/non-empty array/);
    expect(bad({ sampleOnly: ["memory_v1", "memory_v2"] })).toMatch(/match no cgroup/);
    expect(bad({ on: ["oom"], sampleOnly: ["cpu_quota"] })).toMatch(/does not list "sample"/);
  });

  it("memory_psi: a sample without memory PSI never reaches the policy, nor makes the daemon read a snapshot", async () => {
    const dir = policyDir({ "psi.js": policy("psi", ECHO, `, sampleOnly: ["memory_v2", "memory_psi"]`) });
    const engine = await createPolicyEngine({ dirs: [dir], logger: recordingLogger().logger });
    const v2 = snapshot("a", { memory: memory(2) });
    expect(engine.evaluateDetailed(sample("a"), v2).map((r) => r.policy)).toEqual([]);
    expect(engine.evaluateDetailed(psiSample("a", 0.5), v2).map((r) => r.policy)).toEqual(["psi"]);
    expect(engine.wantsEvent("sample", "a", facts({ memoryVersion: 2 }))).toBe(false);
    expect(engine.wantsEvent("sample", "a", facts({ memoryVersion: 2, memoryPsi: true }))).toBe(true);
    engine.close();
  });

  it("rejects memory_psi where no event can carry it", () => {
    const bad = (extra: Record<string, unknown>): string => {
      const r = validateMeta({ name: "p", on: ["sample", "cgroup_added"], ...extra });
      return r.kind === "invalid" ? r.reason : "ok";
    };
    expect(bad({ sampleOnly: ["memory_psi"] })).toBe("ok");
    expect(bad({ sampleOnly: ["memory_v1", "memory_psi"] })).toMatch(/v1 has no per-cgroup PSI/);
    expect(bad({ addedOnly: ["memory_psi"] })).toMatch(
      /meta.addedOnly: memory_psi is carried by samples only; a `cgroup_added` never has it/,
    );
  });

  it("facts of a snapshot: own quota, memory version, any label", () => {
    expect(factsOfSnapshot(snapshot("a"))).toEqual(facts({}));
    expect(factsOfSnapshot(snapshot("a", { cpu: cpu(1), memory: memory(1), labels: { a: "b" } }))).toEqual({
      cpuQuota: true,
      memoryVersion: 1,
      labelled: true,
      memoryPsi: false,
    });
    // PSI is the sample's: a sample with someAvg10, not one without nor another kind.
    expect(factsOfSnapshot(snapshot("a"), psiSample("a", 0)).memoryPsi).toBe(true);
    expect(factsOfSnapshot(snapshot("a"), sample("a")).memoryPsi).toBe(false);
    expect(sampleConcerns(undefined, facts({}))).toBe(true);
    expect(sampleConcerns(["memory_v1"], facts({ memoryVersion: 2 }))).toBe(false);
  });
});

describe("meta.addedOnly", () => {
  const addedPolicy = (name: string, extraMeta: string): string =>
    policy(name, ECHO, extraMeta).replace(`on: ["sample"]`, `on: ["cgroup_added", "sample"]`);
  const added = (cgroup: string): WatchdogEvent => ({ kind: "cgroup_added", cgroup, at: 1, source: "inotify" });

  it("a cgroup_added outside the filter never reaches the policy; one inside does; samples follow sampleOnly alone", async () => {
    const dir = policyDir({ "tier.js": addedPolicy("tier", `, addedOnly: ["labelled"]`) });
    const engine = await createPolicyEngine({ dirs: [dir], logger: recordingLogger().logger });
    const reached = (e: WatchdogEvent, s: CgroupSnapshot): string[] =>
      engine.evaluateDetailed(e, s).map((r) => r.policy);
    expect(reached(added("a"), snapshot("a"))).toEqual([]);
    expect(reached(added("b"), snapshot("b", { labels: { tier: "critical" } }))).toEqual(["tier"]);
    // addedOnly does not narrow samples: without sampleOnly every sample reaches it.
    expect(reached(sample("a"), snapshot("a"))).toEqual(["tier"]);
    expect(engine.policies().map((p) => [p.name, p.calls])).toEqual([["tier", 2]]);
    // Before a snapshot: the facts the caller passes.
    expect(engine.wantsEvent("cgroup_added", "a", facts({ memoryVersion: 2, cpuQuota: true }))).toBe(false);
    expect(engine.wantsEvent("cgroup_added", "a", facts({ labelled: true }))).toBe(true);
    expect(engine.wantsEvent("cgroup_added", "a")).toBe(true);
    expect(engine.wantsEvent("sample", "a", facts({}))).toBe(true);
    engine.close();
  });

  it("rejects what sampleOnly rejects, and a filter without cgroup_added in `on`, naming the key", () => {
    const bad = (extra: Record<string, unknown>): string => {
      const r = validateMeta({ name: "p", on: ["cgroup_added"], ...extra });
      return r.kind === "invalid" ? r.reason : "ok";
    };
    expect(bad({ addedOnly: ["labelled", "memory_v2"] })).toBe("ok");
    expect(bad({ addedOnly: ["tier"] })).toMatch(
      /meta.addedOnly: unknown condition "tier" \(known: cpu_quota, memory_v1, memory_v2, labelled, memory_psi\)/,
    );
    expect(bad({ addedOnly: [] })).toMatch(/meta.addedOnly must be a non-empty array/);
    expect(bad({ addedOnly: ["memory_v1", "memory_v2"] })).toMatch(/meta.addedOnly: .*match no cgroup/);
    expect(bad({ on: ["sample"], addedOnly: ["labelled"] })).toMatch(
      /meta.addedOnly filters `cgroup_added` events, but meta.on does not list "cgroup_added"/,
    );
    // Both keys, each checked against its own kind.
    expect(bad({ on: ["cgroup_added"], addedOnly: ["labelled"], sampleOnly: ["labelled"] })).toMatch(
      /meta.sampleOnly filters `sample` events/,
    );
    const both = validateMeta({
      name: "p",
      on: ["cgroup_added", "sample"],
      sampleOnly: ["cpu_quota"],
      addedOnly: ["labelled"],
    });
    expect(both.kind === "ok" && [both.meta.sampleOnly, both.meta.addedOnly]).toEqual([["cpu_quota"], ["labelled"]]);
  });
});

describe("shipped sampling policies", () => {
  const shipped = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../policies");
  it("each declares the cgroups its samples and additions concern", async () => {
    const { policies, errors } = await compilePolicies([shipped]);
    expect(errors).toEqual([]);
    const sampling = Object.fromEntries(
      policies.filter((p) => p.meta.on.includes("sample")).map((p) => [p.meta.name, p.meta.sampleOnly]),
    );
    expect(sampling).toEqual({
      "oom-protect-critical": ["labelled"],
      "pressure-relief": ["memory_v2", "memory_psi"],
      "throttle-burst": ["cpu_quota"],
    });
    const adding = Object.fromEntries(
      policies.filter((p) => p.meta.on.includes("cgroup_added")).map((p) => [p.meta.name, p.meta.addedOnly]),
    );
    expect(adding).toEqual({ "oom-protect-critical": ["labelled"] });
  });
});
