/**
 * The executor on fake v1 and v2 cgroupfs trees: every action kind applied
 * and read back, write order, each outcome kind with exactly one decision
 * line, guardrails wired in, dry-run touching nothing, nothing thrown.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createActionExecutor, type ActionExecutorOptions } from "../../src/actions/executor.js";
import type { GuardrailConfig } from "../../src/actions/guardrailConfig.js";
import { ACTION_KINDS, type Action, type ActionKind, type ActionProposal } from "../../src/actions/types.js";
import { createGuardedWriter, type GuardedWriter } from "../../src/cgroup/writer.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";
import {
  MiB,
  OPEN_GUARDRAILS,
  captureLog,
  fakeClock,
  proposal,
  proposal as baseProposal,
  recordingWriter,
  type CapturedLog,
  type FakeClock,
} from "./helpers.js";

const CG = "app";
const PIDS = [4101, 4102, 4103];

/** One action of every kind, valid on both versions where the version supports it. */
const EVERY_ACTION: Readonly<Record<ActionKind, Action>> = {
  set_memory_limit: { kind: "set_memory_limit", bytes: 64 * MiB },
  set_swap_limit: { kind: "set_swap_limit", bytes: 32 * MiB },
  set_memory_reservation: { kind: "set_memory_reservation", bytes: 48 * MiB },
  set_memory_high: { kind: "set_memory_high", bytes: 56 * MiB },
  set_swappiness: { kind: "set_swappiness", value: 10 },
  set_oom_score_adj: { kind: "set_oom_score_adj", value: 500 },
  set_oom_kill_disable: { kind: "set_oom_kill_disable", disable: true },
  set_oom_group: { kind: "set_oom_group", enable: true },
  set_cpu_quota: { kind: "set_cpu_quota", quotaUs: 50_000, periodUs: 100_000 },
  set_cpu_burst: { kind: "set_cpu_burst", burstUs: 0 },
  set_cpu_shares: { kind: "set_cpu_shares", shares: 512 },
  set_cpuset: { kind: "set_cpuset", cpus: "0", mems: "0" },
  set_pids_max: { kind: "set_pids_max", max: 128 },
  set_io_weight: { kind: "set_io_weight", weight: 200 },
  set_io_throttle: { kind: "set_io_throttle", device: "8:0", readBps: 1_048_576 },
  freeze: { kind: "freeze" },
  thaw: { kind: "thaw" },
  kill: { kind: "kill" },
  annotate: { kind: "annotate", message: "noted", data: { n: 1 } },
};

/** What the fake tree must show after applying EVERY_ACTION (file → content), or the rejection. */
const EXPECT_V1: Readonly<Record<ActionKind, Readonly<Record<string, string>> | { rejected: string }>> = {
  // memsw starts unlimited here, so only the limit moves (memsw ordering has its own tests)
  set_memory_limit: { "memory.limit_in_bytes": String(64 * MiB), "memory.memsw.limit_in_bytes": "9223372036854771712" },
  set_swap_limit: { "memory.memsw.limit_in_bytes": String(96 * MiB) }, // limit 64M (set first in the v1 setup) + 32M
  set_memory_reservation: { "memory.soft_limit_in_bytes": String(48 * MiB) },
  set_memory_high: { rejected: "unsupported" },
  set_swappiness: { "memory.swappiness": "10" },
  set_oom_score_adj: {},
  set_oom_kill_disable: { "memory.oom_control": "1" },
  set_oom_group: { rejected: "unsupported" },
  set_cpu_quota: { "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000" },
  set_cpu_burst: { "cpu.cfs_burst_us": "0" },
  set_cpu_shares: { "cpu.shares": "512" },
  set_cpuset: { "cpuset.cpus": "0", "cpuset.mems": "0" },
  set_pids_max: { "pids.max": "128" },
  set_io_weight: { "blkio.weight": "200" },
  set_io_throttle: { "blkio.throttle.read_bps_device": "8:0 1048576" },
  freeze: { "freezer.state": "FROZEN" },
  thaw: { "freezer.state": "THAWED" },
  kill: {},
  annotate: {},
};

const EXPECT_V2: Readonly<Record<ActionKind, Readonly<Record<string, string>> | { rejected: string }>> = {
  set_memory_limit: { "memory.max": String(64 * MiB) },
  set_swap_limit: { "memory.swap.max": String(32 * MiB) },
  set_memory_reservation: { "memory.low": String(48 * MiB) },
  set_memory_high: { "memory.high": String(56 * MiB) },
  set_swappiness: { rejected: "unsupported" },
  set_oom_score_adj: {},
  set_oom_kill_disable: { rejected: "unsupported" },
  set_oom_group: { "memory.oom.group": "1" },
  set_cpu_quota: { "cpu.max": "50000 100000" },
  set_cpu_burst: { "cpu.max.burst": "0" },
  set_cpu_shares: { "cpu.weight": "20" },
  set_cpuset: { "cpuset.cpus": "0", "cpuset.mems": "0" },
  set_pids_max: { "pids.max": "128" },
  set_io_weight: { "io.weight": "default 1920" },
  set_io_throttle: { "io.max": "8:0 rbps=1048576" },
  freeze: { "cgroup.freeze": "1" },
  thaw: { "cgroup.freeze": "0" },
  kill: { "cgroup.kill": "1" },
  annotate: {},
};

const V1_EXTRA = {
  "blkio.throttle.read_bps_device": "",
  "blkio.throttle.write_bps_device": "",
  "blkio.throttle.read_iops_device": "",
  "blkio.throttle.write_iops_device": "",
  "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
};
const V2_EXTRA = { "cpuset.cpus": "", "cpuset.mems": "", "io.weight": "default 100\n", "io.max": "" };

interface Rig {
  host: FakeHost;
  procRoot: string;
  clock: FakeClock;
  log: CapturedLog;
  rec: ReturnType<typeof recordingWriter>;
  make(g?: Partial<GuardrailConfig>, extra?: Partial<ActionExecutorOptions>): ReturnType<typeof createActionExecutor>;
}

/** cgroup.procs of the cgroup (v1: in the memory hierarchy, where the executor looks first). */
function writeProcs(host: FakeHost, version: 1 | 2, pids: readonly number[]): void {
  fs.writeFileSync(path.join(host.root, version === 1 ? "memory" : "", CG, "cgroup.procs"), pids.join("\n") + "\n");
}

function rig(version: 1 | 2): Rig {
  const host = fakeHost(version);
  host.addCgroup(CG, version === 1 ? V1_EXTRA : V2_EXTRA);
  writeProcs(host, version, PIDS);
  const procRoot = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-proc-"));
  for (const pid of PIDS) {
    fs.mkdirSync(path.join(procRoot, String(pid)));
    fs.writeFileSync(path.join(procRoot, String(pid), "oom_score_adj"), "0\n");
  }
  const clock = fakeClock();
  const log = captureLog();
  const rec = recordingWriter(createGuardedWriter(host.layout, procRoot), { fakeSignals: true });
  return {
    host,
    procRoot,
    clock,
    log,
    rec,
    make: (g = {}, extra = {}) =>
      createActionExecutor({
        layout: host.layout,
        writer: rec.writer,
        procRoot,
        guardrails: { global: { ...OPEN_GUARDRAILS, ...g } },
        logger: log.logger,
        clock,
        hostMemoryBytes: 8192 * MiB,
        ownCgroups: ["cgwatch-self"],
        ...extra,
      }),
  };
}

function snapshotTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(p, `${fs.readFileSync(p, "utf8")}\u0000${fs.statSync(p).mtimeMs}`);
    }
  };
  walk(root);
  return out;
}

let rigs: Rig[] = [];
const newRig = (v: 1 | 2): Rig => {
  const r = rig(v);
  rigs.push(r);
  return r;
};
beforeEach(() => {
  rigs = [];
});
afterEach(() => {
  for (const r of rigs) {
    r.host.cleanup();
    fs.rmSync(r.procRoot, { recursive: true, force: true });
  }
});

describe.each([1, 2] as const)("every action kind applied on a fake v%i tree", (version) => {
  const table = version === 1 ? EXPECT_V1 : EXPECT_V2;
  it("writes the expected files, reads them back, one decision line each", () => {
    const r = newRig(version);
    const exec = r.make();
    // v1 swap limit needs a memory limit: the memory limit row runs first (table order).
    for (const kind of ACTION_KINDS) {
      const linesBefore = r.log.lines.length;
      const outcome = exec.execute(proposal(CG, EVERY_ACTION[kind]));
      const want = table[kind];
      expect(r.log.lines.length - linesBefore, `${kind}: one line`).toBe(1);
      const line = r.log.lines.at(-1) ?? {};
      expect(line).toMatchObject({
        msg: "action decision",
        action: kind,
        cgroup: CG,
        policy: "test-policy",
        event: "under_oom",
        outcome: outcome.kind,
      });
      if ("rejected" in want) {
        expect(outcome, kind).toMatchObject({ kind: "rejected", guardrail: want.rejected });
        continue;
      }
      expect(outcome.kind, `${kind}: ${JSON.stringify(outcome)}`).toBe("applied");
      // A fake memory.oom_control is a plain file: it reads back "1", not the kernel's "oom_kill_disable 1\n...",
      // so that one read-back differs here (the real-kernel suite confirms it).
      if (outcome.kind === "applied" && kind !== "set_oom_kill_disable")
        expect(outcome.readBackDiffers, kind).toBeUndefined();
      for (const [file, content] of Object.entries(want))
        expect(r.host.read(CG, file).trim(), `${kind}: ${file}`).toBe(content);
    }
    // per-process actions
    for (const pid of PIDS)
      expect(fs.readFileSync(path.join(r.procRoot, String(pid), "oom_score_adj"), "utf8").trim()).toBe("500");
    if (version === 1) expect(r.rec.signals).toEqual(PIDS);
    else expect(r.rec.signals).toEqual([]);
  });
});

describe("v1 memsw write order through the executor (recording writer)", () => {
  const order = (r: Rig): string[] =>
    r.rec.writes.map((w) => (w.target.kind === "cgroup_file" ? w.target.file : w.target.kind));
  it("raise: memsw then limit; lower: limit then memsw", () => {
    const r = newRig(1);
    r.host.write(CG, "memory.limit_in_bytes", `${50 * MiB}\n`);
    r.host.write(CG, "memory.memsw.limit_in_bytes", `${50 * MiB}\n`);
    const exec = r.make();
    expect(exec.execute(proposal(CG, { kind: "set_memory_limit", bytes: 200 * MiB })).kind).toBe("applied");
    expect(order(r)).toEqual(["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]);
    r.rec.writes.length = 0;
    expect(exec.execute(proposal(CG, { kind: "set_memory_limit", bytes: 30 * MiB })).kind).toBe("applied");
    expect(order(r)).toEqual(["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
    expect(r.host.read(CG, "memory.memsw.limit_in_bytes").trim()).toBe(String(30 * MiB));
    const line = r.log.lines.at(-1);
    expect(line).toMatchObject({
      before: `memory.limit_in_bytes=${200 * MiB}; memory.memsw.limit_in_bytes=${200 * MiB}`,
      after: `memory.limit_in_bytes=${30 * MiB}; memory.memsw.limit_in_bytes=${30 * MiB}`,
    });
  });
});

describe("outcomes", () => {
  it("rejected: protected (own cgroup, ancestors, root, config), each with the guardrail and one line", () => {
    const r = newRig(2);
    const exec = r.make({ protectedCgroups: ["db/**"] });
    for (const cg of ["cgwatch-self", "", "/", "db", "db/primary"]) {
      expect(exec.execute(proposal(cg, { kind: "freeze" })), cg).toMatchObject({
        kind: "rejected",
        guardrail: "protected_cgroup",
      });
    }
    expect(r.log.lines).toHaveLength(5);
    expect(r.rec.writes).toHaveLength(0);
  });
  it("rejected: invalid values and malformed actions, never thrown", () => {
    const r = newRig(1);
    const exec = r.make();
    const bad: unknown[] = [
      { kind: "set_swappiness", value: 101 },
      { kind: "set_oom_score_adj", value: -1001 },
      { kind: "set_memory_limit", bytes: -1 },
      { kind: "set_memory_limit", bytes: "lots" },
      { kind: "set_cpu_quota", quotaUs: 999 },
      { kind: "set_cpuset", cpus: "0-1; rm -rf" },
      { kind: "set_io_throttle", device: "sda", readBps: 1 },
      { kind: "no_such_kind" },
      null,
    ];
    for (const a of bad)
      expect(exec.execute(proposal(CG, a as Action)), JSON.stringify(a)).toMatchObject({
        kind: "rejected",
        guardrail: "invalid_action",
      });
    expect(exec.execute(proposal("../../etc", { kind: "freeze" }))).toMatchObject({
      kind: "rejected",
      guardrail: "invalid_action",
    });
    expect(r.rec.writes).toHaveLength(0);
    expect(r.log.lines).toHaveLength(bad.length + 1);
  });
  it("rejected: value guardrails see the current values (ceiling, step, below usage)", () => {
    const r = newRig(2);
    r.host.write(CG, "memory.max", `${100 * MiB}\n`);
    r.host.write(CG, "memory.current", `${80 * MiB}\n`);
    const exec = r.make({
      memory: {
        ceilingFractionOfHost: 0.5,
        ceilingBytes: null,
        floorBytes: 16 * MiB,
        maxStepFraction: 0.5,
        maxStepBytes: null,
      },
    });
    expect(exec.execute(proposal(CG, { kind: "set_memory_limit", bytes: 5000 * MiB }))).toMatchObject({
      kind: "rejected",
      guardrail: "memory_ceiling",
    });
    expect(exec.execute(proposal(CG, { kind: "set_memory_limit", bytes: 151 * MiB }))).toMatchObject({
      kind: "rejected",
      guardrail: "memory_step",
    });
    expect(exec.execute(proposal(CG, { kind: "set_memory_limit", bytes: 70 * MiB }))).toMatchObject({
      kind: "rejected",
      guardrail: "below_usage",
    });
    expect(
      exec.execute(proposal(CG, { kind: "set_memory_limit", bytes: 70 * MiB, allowBelowUsage: true })),
    ).toMatchObject({ kind: "applied", before: String(100 * MiB), after: String(70 * MiB) });
    expect(exec.execute(proposal(CG, { kind: "set_memory_limit", bytes: "max" }))).toMatchObject({
      kind: "rejected",
      guardrail: "memory_ceiling",
    });
  });
  it("rejected: cpu bounds and step from current cpu.max", () => {
    const r = newRig(2);
    r.host.write(CG, "cpu.max", "50000 100000\n");
    const exec = r.make({ cpu: { minCores: 0.1, maxCores: 1, maxStepFactor: 2 } });
    expect(exec.execute(proposal(CG, { kind: "set_cpu_quota", quotaUs: 150_000 }))).toMatchObject({
      kind: "rejected",
      guardrail: "cpu_quota_bounds",
    });
    expect(exec.execute(proposal(CG, { kind: "set_cpu_quota", quotaUs: 20_000 }))).toMatchObject({
      kind: "rejected",
      guardrail: "cpu_step",
    });
    expect(exec.execute(proposal(CG, { kind: "set_cpu_quota", quotaUs: 100_000 }))).toMatchObject({
      kind: "applied",
      before: "50000 100000",
      after: "100000 100000",
    });
  });
  it("cooldown and rate limit on the fake clock", () => {
    const r = newRig(2);
    const exec = r.make({ cooldownMs: 10_000, rateLimit: { perMinute: 6, burst: 2 } });
    const limit = (b: number): Action => ({ kind: "set_pids_max", max: b });
    // Cooldowns are measured between the causing events' times, here the clock's.
    const proposal = (cg: string, a: Action): ActionProposal => ({
      ...baseProposal(cg, a),
      cause: { kind: "sample", at: r.clock.now() },
    });
    expect(exec.execute(proposal(CG, limit(10))).kind).toBe("applied");
    r.clock.advance(9_999);
    expect(exec.execute(proposal(CG, limit(11)))).toMatchObject({ kind: "rejected", guardrail: "cooldown" });
    r.clock.advance(1);
    // bucket (6/min = one token per 10 s, burst 2): 2 - 1 + 1 refilled = 2
    expect(exec.execute(proposal(CG, limit(12))).kind).toBe("applied");
    expect(exec.execute(proposal(CG, { kind: "freeze" })).kind).toBe("applied");
    expect(exec.execute(proposal(CG, { kind: "thaw" }))).toMatchObject({ kind: "rejected", guardrail: "rate_limit" });
    r.clock.advance(9_999);
    expect(exec.execute(proposal(CG, { kind: "thaw" }))).toMatchObject({ kind: "rejected", guardrail: "rate_limit" });
    r.clock.advance(1);
    expect(exec.execute(proposal(CG, { kind: "thaw" })).kind).toBe("applied");
    expect(r.host.read(CG, "pids.max").trim()).toBe("12");
  });
  it("cooldown: measured between causing events, so an event exactly one cooldown later passes however long the policy ran", () => {
    const r = newRig(2);
    const exec = r.make({ cooldownMs: 1000 });
    const at = (a: Action, t: number): ActionProposal => ({
      ...baseProposal(CG, a),
      cause: { kind: "cpu_throttled", at: t },
    });
    expect(exec.execute(at({ kind: "set_pids_max", max: 10 }, 0)).kind).toBe("applied");
    // The executor runs 0.1 ms after its event the first time and right at it the second: still one cooldown apart.
    r.clock.advance(1000);
    expect(exec.execute(at({ kind: "set_pids_max", max: 11 }, 1000)).kind).toBe("applied");
    expect(exec.execute(at({ kind: "set_pids_max", max: 12 }, 1999.9))).toMatchObject({
      kind: "rejected",
      guardrail: "cooldown",
    });
  });
  it("cooldown: the answer to a stall under OOM (an emergency cause) is not held back by it; value guardrails still apply", () => {
    const r = newRig(2);
    const exec = r.make({ cooldownMs: 30_000, memory: { ...OPEN_GUARDRAILS.memory, ceilingBytes: 100 * MiB } });
    const stall = (a: Action): ActionProposal => ({
      ...baseProposal(CG, a),
      cause: { kind: "under_oom", at: r.clock.now(), emergency: true },
    });
    r.host.write(CG, "memory.max", String(50 * MiB));
    expect(exec.execute(stall({ kind: "set_memory_limit", bytes: 60 * MiB })).kind).toBe("applied");
    r.clock.advance(5);
    expect(exec.execute(stall({ kind: "set_memory_limit", bytes: 80 * MiB })).kind).toBe("applied");
    expect(exec.execute(stall({ kind: "set_memory_limit", bytes: 200 * MiB }))).toMatchObject({
      kind: "rejected",
      guardrail: "memory_ceiling",
    });
    // An ordinary cause right after is still subject to the cooldown.
    expect(
      exec.execute({
        ...baseProposal(CG, { kind: "set_memory_limit", bytes: 90 * MiB }),
        cause: { kind: "memory_max", at: r.clock.now() },
      }),
    ).toMatchObject({ kind: "rejected", guardrail: "cooldown" });
  });
  it("rate limit: routine proposals that emptied the bucket do not refuse the answer to a stall under OOM; it takes no token it lacks", () => {
    const r = newRig(2);
    const exec = r.make({ cooldownMs: 0, rateLimit: { perMinute: 1, burst: 1 } });
    const routine = (cg: string, max: number): ActionProposal => ({
      ...baseProposal(cg, { kind: "set_pids_max", max }),
      cause: { kind: "sample", at: r.clock.now() },
    });
    // A sample pass takes the only token; the next routine proposal waits for the refill.
    expect(exec.execute(routine(CG, 10)).kind).toBe("applied");
    expect(exec.execute(routine(CG, 10))).toMatchObject({ kind: "rejected", guardrail: "rate_limit" });
    r.host.write(CG, "memory.max", String(50 * MiB));
    const stall: ActionProposal = {
      ...baseProposal(CG, { kind: "set_memory_limit", bytes: 60 * MiB }),
      cause: { kind: "under_oom", at: r.clock.now(), emergency: true },
    };
    expect(exec.execute(stall).kind).toBe("applied");
    expect(r.host.read(CG, "memory.max").trim()).toBe(String(60 * MiB));
    // The bucket is still empty: the stall's answer minted nothing for the routine ones.
    expect(exec.execute(routine(CG, 11))).toMatchObject({ kind: "rejected", guardrail: "rate_limit" });
    r.clock.advance(60_000);
    expect(exec.execute(routine(CG, 12)).kind).toBe("applied");
  });
  it("failed: a vanished cgroup is ENOENT; nothing written, one line", () => {
    const r = newRig(1);
    const exec = r.make();
    r.host.removeCgroup(CG);
    for (const kind of ACTION_KINDS) {
      if (kind === "annotate") continue;
      const o = exec.execute(proposal(CG, EVERY_ACTION[kind]));
      expect(o, kind).toMatchObject({ kind: "failed", errno: "ENOENT" });
    }
    expect(r.rec.writes).toHaveLength(0);
    expect(r.log.lines.every((l) => l["outcome"] === "failed" && l["errno"] === "ENOENT")).toBe(true);
  });
  it("failed: the cgroup vanishes between read and write → ENOENT from the write, with what was already done", () => {
    const r = newRig(1);
    r.host.write(CG, "memory.limit_in_bytes", `${50 * MiB}\n`);
    r.host.write(CG, "memory.memsw.limit_in_bytes", `${50 * MiB}\n`);
    let n = 0;
    const rec = recordingWriter(createGuardedWriter(r.host.layout, r.procRoot), {
      before: () => {
        if (n++ === 1) fs.rmSync(path.dirname(r.host.file(CG, "memory.limit_in_bytes")), { recursive: true });
      },
    });
    const exec = r.make({}, { writer: rec.writer });
    const o = exec.execute(proposal(CG, { kind: "set_memory_limit", bytes: 100 * MiB }));
    expect(o).toMatchObject({
      kind: "failed",
      errno: "ENOENT",
      completed: [`memory.memsw.limit_in_bytes=${100 * MiB}`],
    });
  });
  it("failed: a writer that throws becomes EINTERNAL; execute never throws", () => {
    const r = newRig(2);
    const throwing: GuardedWriter = {
      resolve: () => ({ kind: "refused", reason: "x" }),
      write: () => {
        throw new Error("boom");
      },
      signal: () => {
        throw new Error("boom");
      },
    };
    const exec = r.make({}, { writer: throwing });
    expect(exec.execute(proposal(CG, { kind: "freeze" }))).toMatchObject({
      kind: "failed",
      errno: "EINTERNAL",
      reason: expect.stringContaining("boom") as unknown,
    });
    expect(r.log.lines.at(-1)).toMatchObject({ outcome: "failed", errno: "EINTERNAL" });
  });
  it("applied with a read-back that differs (the kernel rounds to pages) is reported", () => {
    const r = newRig(2);
    const rec = recordingWriter(createGuardedWriter(r.host.layout, r.procRoot), {
      after: (t, v) => {
        if (t.kind === "cgroup_file" && t.file === "memory.max")
          r.host.write(CG, "memory.max", `${Math.floor(Number(v) / 4096) * 4096}\n`);
      },
    });
    const exec = r.make({}, { writer: rec.writer });
    const o = exec.execute(proposal(CG, { kind: "set_memory_limit", bytes: 100 * MiB + 1 }));
    expect(o).toMatchObject({
      kind: "applied",
      after: String(100 * MiB),
      wrote: `memory.max=${100 * MiB + 1}`,
      readBackDiffers: true,
    });
    expect(r.log.lines.at(-1)).toMatchObject({ outcome: "applied", readBackDiffers: true });
  });
  it("oom_score_adj tolerates a pid that exited (listed, but gone from /proc)", () => {
    const r = newRig(1);
    writeProcs(r.host, 1, [...PIDS, 4999]);
    const o = r.make().execute(proposal(CG, { kind: "set_oom_score_adj", value: -500 }));
    expect(o).toMatchObject({
      kind: "applied",
      before: "0",
      after: "-500",
      note: "3 of 4 pids set, 1 exited meanwhile",
    });
  });
  it("hooks.onOutcome gets every outcome with seconds from the clock; a throwing hook is contained", () => {
    const r = newRig(2);
    const seen: [string, number][] = [];
    const exec = r.make(
      {},
      {
        hooks: {
          onOutcome: (_p, o, s) => {
            seen.push([o.kind, s]);
            throw new Error("metrics down");
          },
        },
      },
    );
    expect(exec.execute(proposal(CG, { kind: "thaw" })).kind).toBe("applied");
    expect(seen).toEqual([["applied", 0]]);
    expect(r.log.lines.some((l) => l["msg"] === "action onOutcome hook threw")).toBe(true);
  });
});

describe.each([1, 2] as const)("dry-run changes nothing on a fake v%i tree", (version) => {
  it("every action kind, globally and per policy: every file identical before and after", () => {
    const r = newRig(version);
    // v1 swap limits need a memory limit (memsw = memory + swap)
    if (version === 1) r.host.write(CG, "memory.limit_in_bytes", `${64 * MiB}\n`);
    const before = snapshotTree(r.host.root);
    const procBefore = snapshotTree(r.procRoot);
    for (const mode of ["global", "policy"] as const) {
      const exec =
        mode === "global"
          ? r.make({ dryRun: true })
          : createActionExecutor({
              layout: r.host.layout,
              writer: r.rec.writer,
              procRoot: r.procRoot,
              guardrails: { global: OPEN_GUARDRAILS, perPolicy: { "test-policy": { dryRun: true } } },
              logger: r.log.logger,
              clock: r.clock,
              hostMemoryBytes: 8192 * MiB,
              ownCgroups: [],
            });
      for (const kind of ACTION_KINDS) {
        const o = exec.execute(proposal(CG, EVERY_ACTION[kind]));
        const want = (version === 1 ? EXPECT_V1 : EXPECT_V2)[kind];
        if ("rejected" in want) expect(o.kind, kind).toBe("rejected");
        else if (kind === "annotate") expect(o.kind).toBe("applied");
        else {
          expect(o.kind, `${mode} ${kind}`).toBe("dry_run");
          expect(o.kind === "dry_run" ? o.wouldWrite : null, kind).not.toBeNull();
        }
      }
    }
    expect(r.rec.writes).toHaveLength(0);
    expect(r.rec.signals).toHaveLength(0);
    expect(snapshotTree(r.host.root)).toEqual(before);
    expect(snapshotTree(r.procRoot)).toEqual(procBefore);
    const dry = r.log.lines.filter((l) => l["outcome"] === "dry_run");
    expect(dry.length).toBeGreaterThan(0);
    expect(dry.every((l) => l["dryRun"] === true && typeof l["after"] === "string")).toBe(true);
  });
});

describe.each([1, 2] as const)("observe-only cgroups (no watch rule opted them in) on a fake v%i tree", (version) => {
  it("every action kind ends as dry_run with reason observe_only; nothing is written", () => {
    const r = newRig(version);
    if (version === 1) r.host.write(CG, "memory.limit_in_bytes", `${64 * MiB}\n`);
    const before = snapshotTree(r.host.root);
    const procBefore = snapshotTree(r.procRoot);
    const exec = r.make({}, { mayAct: (c) => c !== CG });
    for (const kind of ACTION_KINDS) {
      const o = exec.execute(proposal(CG, EVERY_ACTION[kind]));
      const want = (version === 1 ? EXPECT_V1 : EXPECT_V2)[kind];
      if ("rejected" in want) expect(o.kind, kind).toBe("rejected");
      else if (kind === "annotate") expect(o.kind).toBe("applied");
      else expect(o, kind).toMatchObject({ kind: "dry_run", reason: "observe_only" });
    }
    expect(r.rec.writes).toHaveLength(0);
    expect(r.rec.signals).toHaveLength(0);
    expect(snapshotTree(r.host.root)).toEqual(before);
    expect(snapshotTree(r.procRoot)).toEqual(procBefore);
    const lines = r.log.lines.filter((l) => l["outcome"] === "dry_run");
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l["reason"] === "observe_only" && typeof l["after"] === "string")).toBe(true);
  });

  it("guardrails still judge the would-have decision; dry-run wins the reason; an opted-in cgroup is acted on", () => {
    const r = newRig(version);
    const observe = r.make(
      { memory: { ...OPEN_GUARDRAILS.memory, ceilingFractionOfHost: 0.9 } },
      { mayAct: () => false },
    );
    // above 90% of the 8 GiB host: rejected exactly as it would be if it acted
    expect(observe.execute(proposal(CG, { kind: "set_memory_limit", bytes: 8000 * MiB }))).toMatchObject({
      kind: "rejected",
      guardrail: "memory_ceiling",
    });
    expect(observe.execute(proposal("cgwatch-self", { kind: "set_pids_max", max: 5 }))).toMatchObject({
      kind: "rejected",
      guardrail: "protected_cgroup",
    });
    const dry = r.make({ dryRun: true }, { mayAct: () => false });
    expect(dry.execute(proposal(CG, { kind: "set_pids_max", max: 5 }))).toMatchObject({
      kind: "dry_run",
      reason: "dry_run",
    });
    const acting = r.make({}, { mayAct: (c) => c === CG });
    expect(acting.execute(proposal(CG, { kind: "set_pids_max", max: 77 })).kind).toBe("applied");
    expect(r.host.read(CG, "pids.max").trim()).toBe("77");
  });

  it("observed cgroups take no rate-limit token: the host's would-haves cannot starve the opted-in cgroups", () => {
    const r = newRig(version);
    r.host.addCgroup("acting", version === 1 ? V1_EXTRA : V2_EXTRA);
    const exec = r.make({ cooldownMs: 0, rateLimit: { perMinute: 1, burst: 1 } }, { mayAct: (c) => c === "acting" });
    for (let i = 0; i < 5; i++)
      expect(exec.execute(proposal(CG, { kind: "set_pids_max", max: 10 + i }))).toMatchObject({
        kind: "dry_run",
        reason: "observe_only",
      });
    expect(exec.execute(proposal("acting", { kind: "set_pids_max", max: 42 })).kind).toBe("applied");
    expect(exec.execute(proposal("acting", { kind: "set_pids_max", max: 43 }))).toMatchObject({
      kind: "rejected",
      guardrail: "rate_limit",
    });
  });
});
