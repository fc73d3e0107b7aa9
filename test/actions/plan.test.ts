/**
 * The mapping of every action kind to file writes, per cgroup version, on
 * the pure planner: given current file contents, which files are written,
 * with what, in which order, or why the action is refused.
 */
import { describe, expect, it } from "vitest";
import {
  blkioWeightToIoWeight,
  confirms,
  planAction,
  readsFor,
  sharesToWeight,
  type Current,
  type Plan,
  type Step,
} from "../../src/actions/plan.js";
import { ACTION_KINDS, type Action, type ActionKind } from "../../src/actions/types.js";

const V1_UNLIMITED = "9223372036854771712\n";
const M = 1024 * 1024;

const V1_CURRENT: Current = new Map([
  ["memory.limit_in_bytes", V1_UNLIMITED],
  ["memory.memsw.limit_in_bytes", V1_UNLIMITED],
  ["memory.usage_in_bytes", `${10 * M}\n`],
  ["memory.soft_limit_in_bytes", V1_UNLIMITED],
  ["memory.swappiness", "60\n"],
  ["memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"],
  ["cpu.cfs_quota_us", "-1\n"],
  ["cpu.cfs_period_us", "100000\n"],
  ["cpu.cfs_burst_us", "0\n"],
  ["cpu.shares", "1024\n"],
  ["cpuset.cpus", "0-1\n"],
  ["cpuset.mems", "0\n"],
  ["pids.max", "max\n"],
  ["blkio.weight", "500\n"],
  ["blkio.bfq.weight", null],
  ["blkio.throttle.read_bps_device", ""],
  ["blkio.throttle.write_bps_device", ""],
  ["blkio.throttle.read_iops_device", ""],
  ["blkio.throttle.write_iops_device", ""],
  ["freezer.state", "THAWED\n"],
]);

const V2_CURRENT: Current = new Map([
  ["memory.max", "max\n"],
  ["memory.current", `${10 * M}\n`],
  ["memory.swap.max", "max\n"],
  ["memory.low", "0\n"],
  ["memory.high", "max\n"],
  ["memory.oom.group", "0\n"],
  ["cpu.max", "max 100000\n"],
  ["cpu.max.burst", "0\n"],
  ["cpu.weight", "100\n"],
  ["cpuset.cpus", "\n"],
  ["cpuset.mems", "\n"],
  ["pids.max", "max\n"],
  ["io.weight", "default 100\n"],
  ["io.max", ""],
  ["cgroup.freeze", "0\n"],
]);

type Expect = readonly (readonly [string, string])[] | string;

/** One row per action kind: what v1 and v2 write (file, value in order), or the rejection text. */
const TABLE: readonly { action: Action; v1: Expect; v2: Expect }[] = [
  {
    action: { kind: "set_memory_limit", bytes: 100 * M },
    v1: [["memory.limit_in_bytes", String(100 * M)]],
    v2: [["memory.max", String(100 * M)]],
  },
  {
    action: { kind: "set_swap_limit", bytes: 64 * M },
    v1: "set a memory limit first",
    v2: [["memory.swap.max", String(64 * M)]],
  },
  {
    action: { kind: "set_memory_reservation", bytes: 32 * M },
    v1: [["memory.soft_limit_in_bytes", String(32 * M)]],
    v2: [["memory.low", String(32 * M)]],
  },
  {
    action: { kind: "set_memory_high", bytes: 80 * M },
    v1: "memory.high is cgroup v2 only",
    v2: [["memory.high", String(80 * M)]],
  },
  {
    action: { kind: "set_swappiness", value: 10 },
    v1: [["memory.swappiness", "10"]],
    v2: "cgroup v2 has no per-cgroup swappiness",
  },
  { action: { kind: "set_oom_score_adj", value: 500 }, v1: [["<every pid>", "500"]], v2: [["<every pid>", "500"]] },
  {
    action: { kind: "set_oom_kill_disable", disable: true },
    v1: [["memory.oom_control", "1"]],
    v2: "cgroup v2 has no oom_kill_disable",
  },
  {
    action: { kind: "set_oom_group", enable: true },
    v1: "memory.oom.group is cgroup v2 only",
    v2: [["memory.oom.group", "1"]],
  },
  {
    action: { kind: "set_cpu_quota", quotaUs: 50_000, periodUs: 100_000 },
    v1: [["cpu.cfs_quota_us", "50000"]],
    v2: [["cpu.max", "50000 100000"]],
  },
  { action: { kind: "set_cpu_burst", burstUs: 0 }, v1: [["cpu.cfs_burst_us", "0"]], v2: [["cpu.max.burst", "0"]] },
  { action: { kind: "set_cpu_shares", shares: 1024 }, v1: [["cpu.shares", "1024"]], v2: [["cpu.weight", "39"]] },
  {
    action: { kind: "set_cpuset", cpus: "0", mems: "0" },
    v1: [
      ["cpuset.mems", "0"],
      ["cpuset.cpus", "0"],
    ],
    v2: [
      ["cpuset.mems", "0"],
      ["cpuset.cpus", "0"],
    ],
  },
  { action: { kind: "set_pids_max", max: 64 }, v1: [["pids.max", "64"]], v2: [["pids.max", "64"]] },
  {
    action: { kind: "set_io_weight", weight: 500 },
    v1: [["blkio.weight", "500"]],
    v2: [["io.weight", "default 4950"]],
  },
  {
    action: { kind: "set_io_throttle", device: "8:0", readBps: 1_048_576, writeIops: "max" },
    v1: [
      ["blkio.throttle.read_bps_device", "8:0 1048576"],
      ["blkio.throttle.write_iops_device", "8:0 0"],
    ],
    v2: [["io.max", "8:0 rbps=1048576 wiops=max"]],
  },
  { action: { kind: "freeze" }, v1: [["freezer.state", "FROZEN"]], v2: [["cgroup.freeze", "1"]] },
  { action: { kind: "thaw" }, v1: [["freezer.state", "THAWED"]], v2: [["cgroup.freeze", "0"]] },
  { action: { kind: "kill" }, v1: [["<SIGKILL every pid>", "SIGKILL"]], v2: [["cgroup.kill", "1"]] },
  { action: { kind: "annotate", message: "hello" }, v1: [], v2: [] },
];

function flatten(steps: readonly Step[]): [string, string][] {
  return steps.flatMap((s): [string, string][] => {
    switch (s.kind) {
      case "write":
        return [[s.at.file, s.value]];
      case "oom_score_adj_all":
        return [["<every pid>", String(s.value)]];
      case "signal_all":
        return [["<SIGKILL every pid>", s.signal]];
      case "record":
        return [];
    }
  });
}

function expectPlan(action: Action, version: 1 | 2, current: Current): Plan {
  const p = planAction(action, version, current);
  if (p.kind !== "plan") throw new Error(`expected a plan, got: ${p.reason}`);
  return p;
}

describe("planAction: every action kind on v1 and v2", () => {
  it("the table covers every action kind", () => {
    expect(new Set(TABLE.map((r) => r.action.kind))).toEqual(new Set<ActionKind>(ACTION_KINDS));
  });
  for (const row of TABLE) {
    for (const version of [1, 2] as const) {
      const want = version === 1 ? row.v1 : row.v2;
      it(`${row.action.kind} on v${version} → ${typeof want === "string" ? `rejected (${want})` : want.map(([f, v]) => `${f}=${v}`).join(", ") || "no write"}`, () => {
        const current = version === 1 ? V1_CURRENT : V2_CURRENT;
        const p = planAction(row.action, version, current);
        if (typeof want === "string") {
          expect(p.kind).toBe("unsupported");
          expect(p.kind === "unsupported" ? p.reason : "").toContain(want);
        } else {
          expect(p.kind).toBe("plan");
          expect(flatten(p.kind === "plan" ? p.steps : [])).toEqual(want);
          // every file the plan writes was among the files it asked to read (so before/after are known)
          const read = new Set(readsFor(row.action, version).map((a) => a.file));
          // (cgroup.kill is write-only: there is nothing to read before)
          for (const [file] of want)
            if (!file.startsWith("<") && file !== "cgroup.kill") expect(read.has(file)).toBe(true);
        }
      });
    }
  }
});

describe("v1 memory limit keeps memsw >= limit at every step", () => {
  const limited = (limit: number, memsw: number): Current =>
    new Map([...V1_CURRENT, ["memory.limit_in_bytes", `${limit}\n`], ["memory.memsw.limit_in_bytes", `${memsw}\n`]]);

  it("raise: memsw first, keeping the swap allowance (memsw - limit)", () => {
    const p = expectPlan({ kind: "set_memory_limit", bytes: 200 * M }, 1, limited(50 * M, 60 * M));
    expect(flatten(p.steps)).toEqual([
      ["memory.memsw.limit_in_bytes", String(210 * M)],
      ["memory.limit_in_bytes", String(200 * M)],
    ]);
  });
  it("lower: limit first, then memsw", () => {
    const p = expectPlan(
      { kind: "set_memory_limit", bytes: 30 * M, allowBelowUsage: true },
      1,
      limited(50 * M, 50 * M),
    );
    expect(flatten(p.steps)).toEqual([
      ["memory.limit_in_bytes", String(30 * M)],
      ["memory.memsw.limit_in_bytes", String(30 * M)],
    ]);
  });
  it("to unlimited: memsw -1 first, then limit -1", () => {
    const p = expectPlan({ kind: "set_memory_limit", bytes: "max" }, 1, limited(50 * M, 50 * M));
    expect(flatten(p.steps)).toEqual([
      ["memory.memsw.limit_in_bytes", "-1"],
      ["memory.limit_in_bytes", "-1"],
    ]);
  });
  it("memsw unlimited: only the limit is written", () => {
    const p = expectPlan({ kind: "set_memory_limit", bytes: 50 * M }, 1, V1_CURRENT);
    expect(flatten(p.steps)).toEqual([["memory.limit_in_bytes", String(50 * M)]]);
  });
  it("no swap accounting (memsw file absent): only the limit", () => {
    const noMemsw = new Map([...limited(50 * M, 50 * M), ["memory.memsw.limit_in_bytes", null]]);
    const p = expectPlan({ kind: "set_memory_limit", bytes: 200 * M }, 1, noMemsw);
    expect(flatten(p.steps)).toEqual([["memory.limit_in_bytes", String(200 * M)]]);
  });
  it("every intermediate state of every plan satisfies memsw >= limit (exhaustive over a grid)", () => {
    const sizes = [16 * M, 50 * M, 64 * M, 200 * M];
    for (const limit of sizes) {
      for (const swap of [0, 10 * M]) {
        for (const to of [...sizes, "max" as const]) {
          const state = new Map<string, number | null>([
            ["memory.limit_in_bytes", limit],
            ["memory.memsw.limit_in_bytes", limit + swap],
          ]);
          const p = expectPlan(
            { kind: "set_memory_limit", bytes: to, allowBelowUsage: true },
            1,
            limited(limit, limit + swap),
          );
          for (const s of p.steps) {
            if (s.kind !== "write") continue;
            state.set(s.at.file, s.value === "-1" ? null : Number(s.value));
            const l = state.get("memory.limit_in_bytes") ?? null;
            const w = state.get("memory.memsw.limit_in_bytes") ?? null;
            expect(
              w === null || (l !== null && w >= l),
              `limit ${limit} swap ${swap} → ${to}: memsw ${w} < limit ${l}`,
            ).toBe(true);
          }
        }
      }
    }
  });
  it("set_swap_limit v1 writes memsw = limit + swap; 'max' lifts memsw", () => {
    expect(flatten(expectPlan({ kind: "set_swap_limit", bytes: 64 * M }, 1, limited(100 * M, 100 * M)).steps)).toEqual([
      ["memory.memsw.limit_in_bytes", String(164 * M)],
    ]);
    expect(flatten(expectPlan({ kind: "set_swap_limit", bytes: "max" }, 1, limited(100 * M, 100 * M)).steps)).toEqual([
      ["memory.memsw.limit_in_bytes", "-1"],
    ]);
  });
  it("set_swap_limit v1 without swap accounting is refused with the reason", () => {
    const p = planAction(
      { kind: "set_swap_limit", bytes: 64 * M },
      1,
      new Map([...V1_CURRENT, ["memory.memsw.limit_in_bytes", null]]),
    );
    expect(p).toMatchObject({ kind: "unsupported", reason: expect.stringContaining("swapaccount") as unknown });
  });
});

describe("CPU quota/period/burst order", () => {
  const cur = (quota: string, period: string, burst = "0"): Current =>
    new Map([...V1_CURRENT, ["cpu.cfs_quota_us", quota], ["cpu.cfs_period_us", period], ["cpu.cfs_burst_us", burst]]);
  it("period shrinking with a big old quota: quota first (lower intermediate ratio)", () => {
    const p = expectPlan({ kind: "set_cpu_quota", quotaUs: 10_000, periodUs: 20_000 }, 1, cur("100000", "100000"));
    // period first would leave 100000/20000 = 5 cores; quota first leaves 10000/100000 = 0.1
    expect(flatten(p.steps)).toEqual([
      ["cpu.cfs_quota_us", "10000"],
      ["cpu.cfs_period_us", "20000"],
    ]);
  });
  it("period growing with a bigger quota: period first", () => {
    const p = expectPlan({ kind: "set_cpu_quota", quotaUs: 400_000, periodUs: 200_000 }, 1, cur("50000", "100000"));
    expect(flatten(p.steps)).toEqual([
      ["cpu.cfs_period_us", "200000"],
      ["cpu.cfs_quota_us", "400000"],
    ]);
  });
  it("a burst above the new quota is lowered first (kernel: burst <= quota)", () => {
    const p = expectPlan({ kind: "set_cpu_quota", quotaUs: 20_000 }, 1, cur("100000", "100000", "50000"));
    expect(flatten(p.steps)).toEqual([
      ["cpu.cfs_burst_us", "20000"],
      ["cpu.cfs_quota_us", "20000"],
    ]);
    const p2 = expectPlan(
      { kind: "set_cpu_quota", quotaUs: 20_000 },
      2,
      new Map([...V2_CURRENT, ["cpu.max", "100000 100000\n"], ["cpu.max.burst", "50000\n"]]),
    );
    expect(flatten(p2.steps)).toEqual([
      ["cpu.max.burst", "20000"],
      ["cpu.max", "20000 100000"],
    ]);
  });
  it("quota 'max' writes -1 (v1) / 'max period' (v2) and reports unlimited cores", () => {
    const p = expectPlan({ kind: "set_cpu_quota", quotaUs: "max" }, 1, cur("50000", "100000"));
    expect(flatten(p.steps)).toEqual([["cpu.cfs_quota_us", "-1"]]);
    expect(p.effect).toEqual({ kind: "cpu_quota", fromCores: 0.5, toCores: null });
    expect(flatten(expectPlan({ kind: "set_cpu_quota", quotaUs: "max" }, 2, V2_CURRENT).steps)).toEqual([
      ["cpu.max", "max 100000"],
    ]);
  });
  it("burst above the quota, or a burst without a quota, is refused with the reason", () => {
    expect(planAction({ kind: "set_cpu_burst", burstUs: 60_000 }, 1, cur("50000", "100000"))).toMatchObject({
      kind: "unsupported",
      reason: expect.stringContaining("exceeds the quota") as unknown,
    });
    expect(planAction({ kind: "set_cpu_burst", burstUs: 10_000 }, 2, V2_CURRENT)).toMatchObject({
      kind: "unsupported",
      reason: expect.stringContaining("needs a quota") as unknown,
    });
    expect(flatten(expectPlan({ kind: "set_cpu_burst", burstUs: 50_000 }, 1, cur("50000", "100000")).steps)).toEqual([
      ["cpu.cfs_burst_us", "50000"],
    ]);
  });
});

describe("conversions", () => {
  it("runc's shares → weight at the boundaries", () => {
    const rows: [number, number][] = [
      [2, 1],
      [3, 1],
      [1024, 39],
      [262143, 9999],
      [262144, 10000],
    ];
    for (const [shares, weight] of rows) expect(sharesToWeight(shares), `shares ${shares}`).toBe(weight);
  });
  it("runc's blkio weight → io.weight", () => {
    expect([10, 11, 500, 999, 1000].map(blkioWeightToIoWeight)).toEqual([1, 11, 4950, 9989, 10000]);
  });
});

describe("confirms (read-back)", () => {
  it("treats -1, max and v1's 2^63-ish as the same unlimited", () => {
    expect(confirms({ kind: "limit" }, "-1", V1_UNLIMITED)).toBe(true);
    expect(confirms({ kind: "limit" }, "max", "max\n")).toBe(true);
  });
  it("reports page rounding as a difference", () => {
    expect(confirms({ kind: "limit" }, "52428801", "52432896\n")).toBe(false);
    expect(confirms({ kind: "limit" }, "52428800", "52428800\n")).toBe(true);
  });
  it("keyed and per-device read-backs", () => {
    expect(
      confirms({ kind: "key", key: "oom_kill_disable", expect: "1" }, "1", "oom_kill_disable 1\nunder_oom 0\n"),
    ).toBe(true);
    expect(
      confirms({ kind: "key", key: "oom_kill_disable", expect: "1" }, "1", "oom_kill_disable 0\nunder_oom 0\n"),
    ).toBe(false);
    const io = { kind: "device_line", device: "8:0", expect: ["rbps=100"], unlimited: false } as const;
    expect(
      confirms(
        io,
        "8:0 rbps=100",
        "8:16 rbps=5 wbps=max riops=max wiops=max\n8:0 rbps=100 wbps=max riops=max wiops=max\n",
      ),
    ).toBe(true);
    expect(confirms(io, "8:0 rbps=100", "8:16 rbps=100 wbps=max riops=max wiops=max\n")).toBe(false);
    expect(confirms({ ...io, unlimited: true }, "8:0 0", "")).toBe(true);
  });
});
