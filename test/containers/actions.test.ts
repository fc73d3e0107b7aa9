/**
 * Every action kind applied to a REAL container's cgroup (podman + runc made
 * it, with the seeds' flags) by cgwatch's action executor, in-process, and
 * read back from the kernel's files: memory limit, swap (memsw), reservation,
 * swappiness, oom_score_adj of every task, CPU quota, burst, shares, cpuset,
 * pids, io throttle, io weight (where the kernel has it), freeze/thaw, kill.
 * The guardrails are the shipped ones, minus cooldown and rate limit (each
 * kind is applied once here, one after another).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createActionExecutor, type ActionExecutor } from "../../src/actions/executor.js";
import { DEFAULT_GUARDRAILS } from "../../src/actions/guardrailConfig.js";
import { parseMemTotal, readOwnCgroups } from "../../src/actions/selfProtection.js";
import type { Action, ActionOutcome } from "../../src/actions/types.js";
import { createGuardedWriter } from "../../src/cgroup/writer.js";
import { captureLog } from "../actions/helpers.js";
import { describeContainers, startEngine, type Container, type Engine } from "../helpers/podman.js";
import { hostLayout } from "../helpers/realCgroup.js";

const MB = 1024 * 1024;

function blockDevice(): string | null {
  for (const name of fs.readdirSync("/sys/block")) {
    if (/^(loop|ram|zram|sr|dm-)/.test(name)) continue;
    return fs.readFileSync(`/sys/block/${name}/dev`, "utf8").trim();
  }
  return null;
}

describeContainers("every action kind on a real container's cgroup, read back from the kernel", () => {
  let engine: Engine;
  let c: Container;
  let exec: ActionExecutor;
  const dev = blockDevice();

  beforeAll(async () => {
    engine = await startEngine("actions");
    c = await engine.run({
      flags: [
        "-m",
        "100m",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "--pids-limit",
        "50",
        "--cpuset-cpus",
        `0-${Math.max(0, Math.min(1, (await import("node:os")).cpus().length - 1))}`,
      ],
      command: ["/bin/sh", "-c", "/bin/sleep 300 & /bin/sleep 300 & /bin/sleep 300"],
    });
    const layout = hostLayout();
    exec = createActionExecutor({
      layout,
      writer: createGuardedWriter(layout, "/proc"),
      procRoot: "/proc",
      guardrails: { global: { ...DEFAULT_GUARDRAILS, cooldownMs: 0, rateLimit: null } },
      logger: captureLog().logger,
      clock: { now: () => performance.now() },
      hostMemoryBytes: parseMemTotal(fs.readFileSync("/proc/meminfo", "utf8")) ?? 0,
      ownCgroups: readOwnCgroups("/proc"),
    });
    // Wait for the shell's children: three tasks.
    for (let i = 0; i < 200 && c.tasks().length < 3; i++) await new Promise((r) => setTimeout(r, 25));
  }, 180_000);
  afterAll(async () => {
    await engine?.close();
  }, 120_000);

  const run = (action: Action): ActionOutcome =>
    exec.execute({
      policy: "container-test",
      cgroup: c.cgroup,
      action,
      cause: { kind: "sample", at: performance.now() },
    });

  it("memory: limit, swap (memsw = limit + swap), reservation, swappiness", () => {
    expect(run({ kind: "set_memory_limit", bytes: 150 * MB })).toMatchObject({ kind: "applied" });
    expect(Number(c.read("memory", "memory.limit_in_bytes"))).toBe(150 * MB);
    expect(run({ kind: "set_swap_limit", bytes: 100 * MB })).toMatchObject({ kind: "applied" });
    expect(Number(c.read("memory", "memory.memsw.limit_in_bytes"))).toBe(250 * MB);
    expect(run({ kind: "set_memory_reservation", bytes: 40 * MB })).toMatchObject({ kind: "applied" });
    expect(Number(c.read("memory", "memory.soft_limit_in_bytes"))).toBe(40 * MB);
    expect(run({ kind: "set_swappiness", value: 20 })).toMatchObject({ kind: "applied" });
    expect(c.read("memory", "memory.swappiness")).toBe("20");
  });

  it("oom_score_adj: every task of the container", () => {
    const tasks = c.tasks();
    expect(tasks.length).toBeGreaterThanOrEqual(3);
    expect(run({ kind: "set_oom_score_adj", value: 300 })).toMatchObject({ kind: "applied", after: "300" });
    for (const pid of tasks) expect(fs.readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim()).toBe("300");
  });

  it("cpu: quota, burst (where the kernel has it), shares, cpuset", () => {
    expect(run({ kind: "set_cpu_quota", quotaUs: 80000 })).toMatchObject({ kind: "applied" });
    expect(c.read("cpu", "cpu.cfs_quota_us")).toBe("80000");
    if (fs.existsSync(path.join(c.dir("cpu"), "cpu.cfs_burst_us"))) {
      expect(run({ kind: "set_cpu_burst", burstUs: 20000 })).toMatchObject({ kind: "applied" });
      expect(c.read("cpu", "cpu.cfs_burst_us")).toBe("20000");
    } else expect(run({ kind: "set_cpu_burst", burstUs: 20000 }).kind).not.toBe("applied");
    expect(run({ kind: "set_cpu_shares", shares: 2048 })).toMatchObject({ kind: "applied" });
    expect(c.read("cpu", "cpu.shares")).toBe("2048");
    expect(run({ kind: "set_cpuset", cpus: "0", mems: "0" })).toMatchObject({ kind: "applied" });
    expect(c.read("cpuset", "cpuset.cpus")).toBe("0");
    expect(c.read("cpuset", "cpuset.mems")).toBe("0");
  });

  it("pids.max", () => {
    expect(run({ kind: "set_pids_max", max: 64 })).toMatchObject({ kind: "applied" });
    expect(c.read("pids", "pids.max")).toBe("64");
  });

  it.runIf(dev !== null)("io throttle (blkio.throttle.*_device)", () => {
    expect(run({ kind: "set_io_throttle", device: dev ?? "", writeBps: 2 * MB, readIops: 200 })).toMatchObject({
      kind: "applied",
    });
    expect(c.read("blkio", "blkio.throttle.write_bps_device")).toBe(`${dev} ${2 * MB}`);
    expect(c.read("blkio", "blkio.throttle.read_iops_device")).toBe(`${dev} 200`);
  });

  // CFQ kernels have blkio.weight, BFQ ones blkio.bfq.weight ("default N");
  // podman 4.3 knows only the former and discards --blkio-weight on BFQ.
  // (The root cgroup has neither: look in the container's.)
  it("io weight: blkio.weight or blkio.bfq.weight, or where the kernel has neither an explicit 'not supported' outcome", () => {
    const weightFile =
      ["blkio.weight", "blkio.bfq.weight"].find((f) => fs.existsSync(path.join(c.dir("blkio"), f))) ?? null;
    process.stdout.write(
      `io weight on this kernel: ${weightFile ?? "not supported (no blkio.weight nor blkio.bfq.weight)"}\n`,
    );
    const o = run({ kind: "set_io_weight", weight: 300 });
    if (weightFile !== null) {
      expect(o).toMatchObject({ kind: "applied" });
      expect(c.read("blkio", weightFile)).toMatch(/^(default )?300$/m);
    } else {
      expect(o.kind).toMatch(/^(failed|rejected)$/);
      expect(JSON.stringify(o)).toMatch(/blkio\.weight/);
    }
  });

  it("freeze, then thaw: freezer.state read back", async () => {
    expect(run({ kind: "freeze" })).toMatchObject({ kind: "applied" });
    for (let i = 0; i < 200 && c.read("freezer", "freezer.state") !== "FROZEN"; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(c.read("freezer", "freezer.state")).toBe("FROZEN");
    expect(run({ kind: "thaw" })).toMatchObject({ kind: "applied" });
    for (let i = 0; i < 200 && c.read("freezer", "freezer.state") !== "THAWED"; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(c.read("freezer", "freezer.state")).toBe("THAWED");
  });

  it("kill: every task gets SIGKILL, the container exits 137", async () => {
    expect(run({ kind: "kill" })).toMatchObject({ kind: "applied" });
    expect(await c.wait(30_000)).toBe(137);
  }, 60_000);
});
