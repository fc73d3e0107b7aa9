/**
 * Actions on the real cgroup v1 kernel of this host: the under_oom rescue,
 * oom_score_adj on every process, swappiness, memsw ordering (and proof the
 * naive order fails), a CPU quota raise after real throttling, and the
 * kernel's refusals as `failed` outcomes. Scratch cgroups live under the
 * test process's own cgroup and are removed even when assertions fail.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, expect, it } from "vitest";
import { createActionExecutor, type ActionExecutor } from "../../src/actions/executor.js";
import { DEFAULT_GUARDRAILS, type GuardrailConfig } from "../../src/actions/guardrailConfig.js";
import { parseMemTotal, protectSelf, readOwnCgroups } from "../../src/actions/selfProtection.js";
import { parseFlatKeyed } from "../../src/cgroup/parse.js";
import { createGuardedWriter, type GuardedWriter } from "../../src/cgroup/writer.js";
import { DIST, ensureDist } from "../helpers/dist.js";
import {
  cpuLoopArgs,
  createScratchCgroup,
  describeRealV1,
  hogArgs,
  waitExit,
  type ScratchCgroup,
} from "../helpers/realCgroup.js";
import { MiB, captureLog, recordingWriter, type CapturedLog } from "./helpers.js";

const GUARDRAILS: GuardrailConfig = { ...DEFAULT_GUARDRAILS, cooldownMs: 0, rateLimit: null };

let scratches: ScratchCgroup[] = [];
afterEach(async () => {
  const all = scratches;
  scratches = [];
  for (const s of all) await s.remove();
});
function scratch(controllers: readonly string[], tag: string): ScratchCgroup {
  const s = createScratchCgroup(controllers, tag);
  scratches.push(s);
  return s;
}

function executorFor(
  s: ScratchCgroup,
  opts: { writer?: GuardedWriter; guardrails?: GuardrailConfig; procRoot?: string } = {},
): { exec: ActionExecutor; log: CapturedLog } {
  const log = captureLog();
  const exec = createActionExecutor({
    layout: s.layout,
    writer: opts.writer ?? createGuardedWriter(s.layout, "/proc"),
    procRoot: opts.procRoot ?? "/proc",
    guardrails: { global: opts.guardrails ?? GUARDRAILS },
    logger: log.logger,
    clock: { now: () => performance.now() },
    hostMemoryBytes: parseMemTotal(fs.readFileSync("/proc/meminfo", "utf8")) ?? 0,
    // the real protection: this process's own cgroups and their ancestors
    ownCgroups: readOwnCgroups("/proc"),
  });
  return { exec, log };
}

/** CAP_SYS_RESOURCE (bit 24) in this process's effective set: needed to lower an oom_score_adj. */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function output(child: ChildProcess): { text: () => string } {
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return { text: () => out };
}

const procs = (s: ScratchCgroup, c = "memory"): number[] =>
  s
    .read(c, "cgroup.procs")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);

const oomControl = (s: ScratchCgroup): ReadonlyMap<string, number> =>
  parseFlatKeyed(s.read("memory", "memory.oom_control")).values;

const proposal = (
  cgroup: string,
  action: Parameters<ActionExecutor["execute"]>[0]["action"],
  policy = "test-policy",
  cause = "under_oom",
) => ({
  policy,
  cgroup,
  action,
  cause: { kind: cause, at: performance.now() },
});

describeRealV1("actions on the real kernel", ["memory", "cpu"], () => {
  it("rescue: a stalled under_oom hog is released by a set_memory_limit raise and exits 0", async () => {
    const s = scratch(["memory"], "rescue");
    s.write("memory", "memory.limit_in_bytes", String(50 * MiB));
    s.write("memory", "memory.memsw.limit_in_bytes", String(50 * MiB)); // docker's --memory-swap = --memory: no swap
    s.write("memory", "memory.oom_control", "1");
    const [cmd, args] = hogArgs(80);
    const hog = s.spawnInside(cmd, args, 60_000);
    const out = output(hog);
    await waitFor(() => oomControl(s).get("under_oom") === 1, "under_oom 1");
    expect(hog.exitCode).toBeNull();

    const { exec, log } = executorFor(s);
    // what the oom-rescue policy emits: raise the limit by a step
    const outcome = exec.execute(proposal(s.cgroup, { kind: "set_memory_limit", bytes: 200 * MiB }, "oom-rescue"));
    expect(outcome).toMatchObject({
      kind: "applied",
      before: `memory.memsw.limit_in_bytes=${50 * MiB}; memory.limit_in_bytes=${50 * MiB}`,
    });
    expect(outcome.kind === "applied" ? outcome.readBackDiffers : "n/a").toBeUndefined();
    expect(s.read("memory", "memory.limit_in_bytes").trim()).toBe(String(200 * MiB));
    expect(s.read("memory", "memory.memsw.limit_in_bytes").trim()).toBe(String(200 * MiB));
    const { code } = await waitExit(hog);
    expect(code).toBe(0);
    expect(out.text()).toContain("done");
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({
      msg: "action decision",
      outcome: "applied",
      policy: "oom-rescue",
      event: "under_oom",
      action: "set_memory_limit",
    });
  });

  it("oom_score_adj is applied to every process of a cgroup (3 sleeping processes)", async () => {
    const s = scratch(["memory"], "oomadj");
    const kids = [0, 1, 2].map(() => s.spawnInside("sleep", ["30"], 30_000));
    const pids = kids.map((k) => k.pid ?? -1);
    await waitFor(() => pids.every((p) => procs(s).includes(p)), "3 pids in cgroup.procs");
    const { exec } = executorFor(s);
    const outcome = exec.execute(proposal(s.cgroup, { kind: "set_oom_score_adj", value: 500 }));
    expect(outcome).toMatchObject({ kind: "applied", before: "0", after: "500", note: "3 of 3 pids set" });
    for (const pid of pids) expect(fs.readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim()).toBe("500");
  });

  it("kill (v1): SIGKILL to every process of the cgroup", async () => {
    const s = scratch(["memory"], "kill");
    const kids = [0, 1, 2].map(() => s.spawnInside("sleep", ["30"], 30_000));
    await waitFor(() => procs(s).length === 3, "3 pids in cgroup.procs");
    const { exec } = executorFor(s);
    expect(exec.execute(proposal(s.cgroup, { kind: "kill" }))).toMatchObject({
      kind: "applied",
      before: "3 pids",
      after: "3 pids signalled",
    });
    const exits = await Promise.all(kids.map((k) => waitExit(k)));
    expect(exits.map((e) => e.signal)).toEqual(["SIGKILL", "SIGKILL", "SIGKILL"]);
  });

  it("swappiness and oom_kill_disable: written and read back", () => {
    const s = scratch(["memory"], "swappiness");
    const { exec } = executorFor(s);
    expect(exec.execute(proposal(s.cgroup, { kind: "set_swappiness", value: 10 }))).toMatchObject({
      kind: "applied",
      after: "10",
    });
    expect(s.read("memory", "memory.swappiness").trim()).toBe("10");
    const o = exec.execute(proposal(s.cgroup, { kind: "set_oom_kill_disable", disable: true }));
    expect(o).toMatchObject({ kind: "applied" });
    expect(o.kind === "applied" ? o.readBackDiffers : "n/a").toBeUndefined();
    expect(oomControl(s).get("oom_kill_disable")).toBe(1);
  });

  it("memsw ordering: raise and lower both succeed; the naive order fails with EINVAL", () => {
    const s = scratch(["memory"], "memsw");
    s.write("memory", "memory.limit_in_bytes", String(100 * MiB));
    s.write("memory", "memory.memsw.limit_in_bytes", String(100 * MiB));
    const raw = createGuardedWriter(s.layout, "/proc");
    const limitT = {
      kind: "cgroup_file",
      cgroup: s.cgroup,
      controller: "memory",
      file: "memory.limit_in_bytes",
    } as const;
    const memswT = { ...limitT, file: "memory.memsw.limit_in_bytes" } as const;

    // naive raise: limit above memsw first → the kernel refuses
    expect(raw.write(limitT, String(200 * MiB))).toMatchObject({ kind: "failed", errno: "EINVAL" });
    // naive lower: memsw below the limit first → refused too
    expect(raw.write(memswT, String(50 * MiB))).toMatchObject({ kind: "failed", errno: "EINVAL" });

    const rec = recordingWriter(raw);
    const { exec } = executorFor(s, { writer: rec.writer });
    expect(exec.execute(proposal(s.cgroup, { kind: "set_memory_limit", bytes: 200 * MiB }))).toMatchObject({
      kind: "applied",
    });
    expect(rec.writes.map((w) => (w.target.kind === "cgroup_file" ? w.target.file : ""))).toEqual([
      "memory.memsw.limit_in_bytes",
      "memory.limit_in_bytes",
    ]);
    expect([
      s.read("memory", "memory.limit_in_bytes").trim(),
      s.read("memory", "memory.memsw.limit_in_bytes").trim(),
    ]).toEqual([String(200 * MiB), String(200 * MiB)]);

    rec.writes.length = 0;
    expect(exec.execute(proposal(s.cgroup, { kind: "set_memory_limit", bytes: 50 * MiB }))).toMatchObject({
      kind: "applied",
    });
    expect(rec.writes.map((w) => (w.target.kind === "cgroup_file" ? w.target.file : ""))).toEqual([
      "memory.limit_in_bytes",
      "memory.memsw.limit_in_bytes",
    ]);
    expect([
      s.read("memory", "memory.limit_in_bytes").trim(),
      s.read("memory", "memory.memsw.limit_in_bytes").trim(),
    ]).toEqual([String(50 * MiB), String(50 * MiB)]);

    // swap limit = memsw - limit
    expect(exec.execute(proposal(s.cgroup, { kind: "set_swap_limit", bytes: 16 * MiB }))).toMatchObject({
      kind: "applied",
      after: String(66 * MiB),
    });
  });

  it("a page-unaligned limit is applied and the kernel's rounding is reported", () => {
    const s = scratch(["memory"], "round");
    const { exec } = executorFor(s);
    const o = exec.execute(proposal(s.cgroup, { kind: "set_memory_limit", bytes: 100 * MiB + 1 }));
    expect(o).toMatchObject({
      kind: "applied",
      readBackDiffers: true,
      wrote: `memory.limit_in_bytes=${100 * MiB + 1}`,
    });
    expect(o.kind === "applied" ? Number(o.after) % 4096 : 1).toBe(0);
  });

  it("CPU quota raise after real throttling", async () => {
    const s = scratch(["cpu", "cpuacct"], "cpu");
    const { exec } = executorFor(s);
    expect(
      exec.execute(
        proposal(s.cgroup, { kind: "set_cpu_quota", quotaUs: 10_000, periodUs: 100_000 }, "test-policy", "sample"),
      ),
    ).toMatchObject({ kind: "applied", before: "-1", after: "10000" });
    const [cmd, args] = cpuLoopArgs(1);
    const burner = s.spawnInside(cmd, args, 20_000);
    await waitExit(burner);
    const stat = parseFlatKeyed(s.read("cpu", "cpu.stat")).values;
    expect(stat.get("nr_throttled") ?? 0).toBeGreaterThan(0);
    // what throttle-burst does: double the quota (within the ×4 step)
    const o = exec.execute(
      proposal(s.cgroup, { kind: "set_cpu_quota", quotaUs: 20_000 }, "throttle-burst", "cpu_throttled"),
    );
    expect(o).toMatchObject({ kind: "applied", before: "10000", after: "20000" });
    expect(s.read("cpu", "cpu.cfs_quota_us").trim()).toBe("20000");
    // a shrinking period goes quota-first and lands
    expect(
      exec.execute(proposal(s.cgroup, { kind: "set_cpu_quota", quotaUs: 10_000, periodUs: 50_000 })),
    ).toMatchObject({ kind: "applied" });
    expect([s.read("cpu", "cpu.cfs_quota_us").trim(), s.read("cpu", "cpu.cfs_period_us").trim()]).toEqual([
      "10000",
      "50000",
    ]);
    // the default guardrails stop a jump beyond ×4
    expect(
      exec.execute(proposal(s.cgroup, { kind: "set_cpu_quota", quotaUs: 100_000, periodUs: 50_000 })),
    ).toMatchObject({ kind: "rejected", guardrail: "cpu_step" });
  });

  it("kernel refusal: lowering the limit below what a process holds → failed EBUSY, nothing thrown", async () => {
    const s = scratch(["memory"], "ebusy");
    s.write("memory", "memory.limit_in_bytes", String(100 * MiB));
    const holder = s.spawnInside(
      "python3",
      ["-c", "import time\nb = bytearray(60 << 20)\nprint('held', flush=True)\ntime.sleep(30)"],
      40_000,
    );
    const out = output(holder);
    await waitFor(() => out.text().includes("held"), "the holder to allocate");
    const { exec, log } = executorFor(s);
    // the guardrail stops it first...
    expect(exec.execute(proposal(s.cgroup, { kind: "set_memory_limit", bytes: 20 * MiB }))).toMatchObject({
      kind: "rejected",
      guardrail: "below_usage",
    });
    // ...and with allowBelowUsage the kernel refuses
    const o = exec.execute(proposal(s.cgroup, { kind: "set_memory_limit", bytes: 20 * MiB, allowBelowUsage: true }));
    expect(o).toMatchObject({ kind: "failed", errno: "EBUSY", before: String(100 * MiB) });
    expect(s.read("memory", "memory.limit_in_bytes").trim()).toBe(String(100 * MiB));
    expect(log.lines.at(-1)).toMatchObject({ outcome: "failed", errno: "EBUSY" });
  });

  it("kernel refusal: a vanished cgroup → failed ENOENT (found missing, and removed between read and write)", () => {
    const s = scratch(["memory"], "vanish");
    const gone = s.child("gone");
    fs.rmdirSync(gone.dir("memory"));
    const { exec } = executorFor(s);
    expect(exec.execute(proposal(gone.cgroup, { kind: "set_memory_limit", bytes: 64 * MiB }))).toMatchObject({
      kind: "failed",
      errno: "ENOENT",
    });

    const racy = s.child("racy");
    const rec = recordingWriter(createGuardedWriter(s.layout, "/proc"), {
      before: () => fs.rmdirSync(racy.dir("memory")),
    });
    const o = executorFor(s, { writer: rec.writer }).exec.execute(
      proposal(racy.cgroup, { kind: "set_swappiness", value: 5 }),
    );
    expect(o).toMatchObject({ kind: "failed", errno: "ENOENT" });
    expect(rec.writes[0]?.result).toMatchObject({ kind: "failed", errno: "ENOENT" });
  });

  it("read-only files: not allow-listed → EREFUSED; a symlink to a real kernel file → refused by name, nothing thrown or written", async () => {
    const s = scratch(["memory"], "ro");
    const writer = createGuardedWriter(s.layout, "/proc");
    expect(
      writer.write({ kind: "cgroup_file", cgroup: s.cgroup, controller: "memory", file: "memory.usage_in_bytes" }, "0"),
    ).toMatchObject({ kind: "failed", errno: "EREFUSED" });
    // oom_score_adj is allow-listed; point one pid's file (in an injected procRoot) at the kernel's read-only oom_score
    const kid = s.spawnInside("sleep", ["30"], 30_000);
    const pid = kid.pid ?? -1;
    await waitFor(() => procs(s).includes(pid), "the sleeper in cgroup.procs");
    const procRoot = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-ro-proc-"));
    try {
      fs.mkdirSync(path.join(procRoot, String(pid)));
      // A symlink out of the proc root (here to the kernel's read-only oom_score) is never followed.
      fs.symlinkSync(`/proc/${pid}/oom_score`, path.join(procRoot, String(pid), "oom_score_adj"));
      const { exec } = executorFor(s, { procRoot, writer: createGuardedWriter(s.layout, procRoot) });
      expect(exec.execute(proposal(s.cgroup, { kind: "set_oom_score_adj", value: 100 }))).toMatchObject({
        kind: "failed",
        errno: "EREFUSED",
      });
    } finally {
      fs.rmSync(procRoot, { recursive: true, force: true });
    }
  });

  // protectSelf's -1000 read-back needs CAP_SYS_RESOURCE, which this host's
  // bounding set lacks even for root: it runs for real in the v2 VM guest
  // (test/vm/guest/actions.test.ts), where root holds every capability.

  it("without CAP_SYS_RESOURCE the kernel refuses to lower oom_score_adj: a clear failed EACCES outcome (run in a child with the capability dropped)", async () => {
    ensureDist();
    const s = scratch(["memory"], "nocap");
    const kid = s.spawnInside("sleep", ["30"], 30_000);
    const pid = kid.pid ?? -1;
    await waitFor(() => procs(s).includes(pid), "the sleeper");
    const module = pathToFileURL(path.join(DIST, "src/actions/selfProtection.js")).href;
    const script = [
      `import fs from "node:fs";`,
      `import { protectSelf } from ${JSON.stringify(module)};`,
      `const capEff = /^CapEff:\\s+([0-9a-f]+)/m.exec(fs.readFileSync("/proc/self/status", "utf8"))[1];`,
      `process.stdout.write(JSON.stringify({ capEff, outcome: protectSelf({ procRoot: "/proc", pid: ${pid} }) }));`,
    ].join("\n");
    // util-linux's setpriv (Debian: essential) drops the capability from the bounding and inheritable sets.
    const r = spawnSync(
      "setpriv",
      [
        "--inh-caps=-sys_resource",
        "--bounding-set=-sys_resource",
        "--",
        process.execPath,
        "--input-type=module",
        "-e",
        script,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const { capEff, outcome } = JSON.parse(r.stdout) as { capEff: string; outcome: unknown };
    expect(BigInt(`0x${capEff}`) & (1n << 24n)).toBe(0n);
    expect(outcome).toMatchObject({
      kind: "failed",
      errno: "EACCES",
      before: "0",
      reason: expect.stringContaining("CAP_SYS_RESOURCE") as unknown,
    });
    expect(fs.readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim()).toBe("0");
  });

  it("protectSelf raises a score with no capability, and reports a vanished pid as failed ENOENT", async () => {
    const s = scratch(["memory"], "raise");
    const kid = s.spawnInside("sleep", ["30"], 30_000);
    const pid = kid.pid ?? -1;
    await waitFor(() => procs(s).includes(pid), "the sleeper");
    expect(protectSelf({ procRoot: "/proc", pid, value: 300 })).toMatchObject({ kind: "applied", after: "300" });
    expect(fs.readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim()).toBe("300");
    expect(protectSelf({ procRoot: "/proc", pid: 2 ** 22 + 12345 })).toMatchObject({ kind: "failed", errno: "ENOENT" });
  });
});
