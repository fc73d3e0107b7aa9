/**
 * The replay's host side: control-file text made from a snapshot plans the
 * same writes the executor would, and an applied action lands in the
 * snapshot a policy sees next.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_GUARDRAILS } from "../../src/actions/guardrailConfig.js";
import { applyToSnapshot, filesFromSnapshot, judge, startGuardrailSim } from "../../src/actions/simulate.js";
import { planAction } from "../../src/actions/plan.js";
import type { ActionProposal } from "../../src/actions/types.js";
import type { CgroupSnapshot } from "../../src/cgroup/snapshot.js";

const MiB = 1024 * 1024;
const v1: CgroupSnapshot = {
  path: "a",
  labels: {},
  memory: {
    version: 1,
    usageBytes: 90 * MiB,
    limitBytes: 100 * MiB,
    swapLimitBytes: 20 * MiB,
    reservationBytes: null,
    highBytes: null,
    swappiness: 60,
    oomKillDisable: true,
    underOom: true,
    oomKills: 0,
  },
  cpu: { version: 1, quotaUs: 20_000, periodUs: 100_000, burstUs: 0, shares: 1024, weight: null, usageSeconds: 1 },
  pids: { current: 3, max: null },
};
const v2: CgroupSnapshot = {
  ...v1,
  memory: { ...v1.memory!, version: 2, swappiness: null, oomKillDisable: null, underOom: null },
  cpu: { ...v1.cpu!, version: 2, weight: 100 },
};

describe("filesFromSnapshot", () => {
  it("v1: memsw is limit + swap, so raising the limit plans memsw first (the kernel's ordering)", () => {
    const files = filesFromSnapshot(v1, 1);
    expect(files.get("memory.memsw.limit_in_bytes")).toBe(String(120 * MiB));
    const plan = planAction({ kind: "set_memory_limit", bytes: 200 * MiB }, 1, files);
    expect(
      plan.kind === "plan" ? plan.steps.map((s) => (s.kind === "write" ? `${s.at.file}=${s.value}` : s.kind)) : plan,
    ).toEqual([`memory.memsw.limit_in_bytes=${220 * MiB}`, `memory.limit_in_bytes=${200 * MiB}`]);
  });

  it("v2: cpu.max from quota and period; unlimited is max", () => {
    const files = filesFromSnapshot({ ...v2, cpu: { ...v2.cpu!, quotaUs: null } }, 2);
    expect(files.get("cpu.max")).toBe("max 100000");
    expect(files.get("memory.high")).toBe("max");
    expect(files.get("pids.max")).toBe("max");
  });
});

describe("applyToSnapshot", () => {
  it("changes exactly the setting the action writes", () => {
    expect(applyToSnapshot(v1, { kind: "set_memory_limit", bytes: "max" }).memory?.limitBytes).toBeNull();
    expect(applyToSnapshot(v1, { kind: "set_cpu_quota", quotaUs: 50_000 }).cpu).toMatchObject({
      quotaUs: 50_000,
      periodUs: 100_000,
    });
    expect(applyToSnapshot(v2, { kind: "set_cpu_shares", shares: 2048 }).cpu).toMatchObject({
      shares: 2048,
      weight: 79,
    });
    expect(applyToSnapshot(v1, { kind: "set_pids_max", max: 50 }).pids?.max).toBe(50);
    expect(applyToSnapshot(v1, { kind: "kill" })).toBe(v1);
  });
});

describe("judge", () => {
  const proposal = (at: number, bytes: number): ActionProposal => ({
    policy: "p",
    cgroup: "a",
    action: { kind: "set_memory_limit", bytes },
    cause: { kind: "under_oom", at },
  });
  const settings = { global: DEFAULT_GUARDRAILS };

  it("rejects what the executor rejects: a version that cannot, a step too big, a cooldown", () => {
    const sim = startGuardrailSim(settings, 0);
    expect(
      judge({ ...proposal(0, 0), action: { kind: "set_swappiness", value: 10 } }, v2, settings, 64 * 1024 * MiB, sim),
    ).toMatchObject({ kind: "rejected", guardrail: "unsupported" });
    expect(judge(proposal(0, 5000 * MiB), v1, settings, 64 * 1024 * MiB, sim)).toMatchObject({
      kind: "rejected",
      guardrail: "memory_step",
    });
    const first = judge(proposal(0, 150 * MiB), v1, settings, 64 * 1024 * MiB, sim);
    expect(first.kind === "applied" ? first.snapshot.memory?.limitBytes : first).toBe(150 * MiB);
    expect(judge(proposal(10_000, 200 * MiB), v1, settings, 64 * 1024 * MiB, sim)).toMatchObject({
      kind: "rejected",
      guardrail: "cooldown",
    });
    expect(judge(proposal(40_000, 200 * MiB), v1, settings, 64 * 1024 * MiB, sim).kind).toBe("applied");
  });

  it("never touches the root cgroup", () => {
    const sim = startGuardrailSim(settings, 0);
    expect(judge({ ...proposal(0, 150 * MiB), cgroup: "" }, v1, settings, 64 * 1024 * MiB, sim)).toMatchObject({
      kind: "rejected",
      guardrail: "protected_cgroup",
    });
  });
});
