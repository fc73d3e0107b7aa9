/**
 * The whole daemon, as shipped: `node dist/src/cli.js run --config <file>`
 * on a real v2 kernel with the built-in policies. Hogs in scratch cgroups
 * make the kernel raise memory.high/max, OOM kills, CPU throttling and
 * pids.max refusals; the shipped policies must act through the kernel's
 * files (read back here), and /metrics must show the counters the kernel
 * shows once the hogs are gone and the counters are still.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseExposition, type ParsedSample } from "../../helpers/parseExposition.js";
import { GuestCgroup, assertInGuest, waitFor, type Hog } from "./guest.js";

assertInGuest();

const MiB = 1024 * 1024;
const PORT = 19786;
const TIMEOUT = 180_000;
const REPO = process.cwd();

type LogLine = Record<string, unknown>;

async function scrape(): Promise<readonly ParsedSample[] | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${PORT}/metrics`);
    if (!res.ok) return null;
    return parseExposition(await res.text()).samples;
  } catch {
    return null; // not listening yet
  }
}

/** The value of one series, matching the cgroup label with or without a leading slash. */
function valueOf(
  samples: readonly ParsedSample[],
  name: string,
  labels: Readonly<Record<string, string>>,
): number | null {
  const hit = samples.find(
    (s) =>
      s.name === name &&
      Object.entries(labels).every(([k, v]) =>
        k === "cgroup" ? (s.labels[k] ?? "").replace(/^\//, "") === v : s.labels[k] === v,
      ),
  );
  return hit?.value ?? null;
}

async function waitForAsync(pred: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

void describe("cgwatch run (daemon, shipped policies, /metrics)", () => {
  const oom = new GuestCgroup("d-rescue");
  const kill = new GuestCgroup("d-kill");
  const cpu = new GuestCgroup("d-cpu");
  const pids = new GuestCgroup("d-pids");
  const lines: LogLine[] = [];
  let stderr = "";
  let daemon: ChildProcess;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  const hogs: Hog[] = [];

  const decisions = (policy: string, cgroup: string): LogLine[] =>
    lines.filter((l) => l["msg"] === "action decision" && l["policy"] === policy && l["cgroup"] === cgroup);
  /** Throws (failing the wait at once) when the daemon died: a crash must not look like a slow policy. */
  const alive = (): true => {
    if (daemon.exitCode !== null || daemon.signalCode !== null) {
      throw new Error(`the daemon died (code ${daemon.exitCode}, signal ${daemon.signalCode}): ${dump()}`);
    }
    return true;
  };
  const dump = (): string =>
    lines
      .slice(-30)
      .map((l) => JSON.stringify(l))
      .join("\n") + `\nstderr: ${stderr.slice(-2000)}`;

  before(async () => {
    oom.write("memory.max", String(32 * MiB));
    oom.write("memory.high", String(30 * MiB));
    kill.write("memory.max", String(32 * MiB));
    cpu.write("cpu.max", "10000 100000");
    pids.write("pids.max", "4");
    const dir = fs.mkdtempSync("/tmp/cgwatch-vm-");
    const config = path.join(dir, "cgwatch.yaml");
    fs.writeFileSync(
      config,
      [
        `watch: ["cgwatch-vmtest/d-*"]`,
        `pollInterval: 200ms`,
        `safetyNetInterval: 1h`,
        `psi:`,
        `  memory: some 20ms 1s`,
        `guardrails:`,
        `  cooldown: 1s`,
        `  rateLimit: null`,
        // The OOM and pids cgroups must keep their limits: their kernel counters are compared with /metrics.
        `  protected: ["${kill.cgroup}", "${pids.cgroup}"]`,
        `policies:`,
        `  params:`,
        `    oom-rescue: { stepPercent: 100 }`,
        `    pressure-relief: { minHighBytes: 16m }`,
        `    throttle-burst: { consecutive: 2, ratioThreshold: 0.1 }`,
        `metrics:`,
        `  listen: 127.0.0.1:${PORT}`,
        `log:`,
        `  level: info`,
        ``,
      ].join("\n"),
    );
    // The TCG workaround flags (run-guest.sh explains them) apply to the daemon too.
    const v8Flags = (process.env["CGWATCH_GUEST_NODE_FLAGS"] ?? "").split(" ").filter((f) => f !== "");
    daemon = spawn(process.execPath, [...v8Flags, path.join(REPO, "dist/src/cli.js"), "run", "--config", config], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = new Promise((resolve) => daemon.on("exit", (code, signal) => resolve({ code, signal })));
    let partial = "";
    daemon.stdout?.on("data", (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split("\n");
      partial = parts.pop() ?? "";
      for (const p of parts) {
        try {
          lines.push(JSON.parse(p) as LogLine);
        } catch {
          lines.push({ msg: "unparsed", text: p });
        }
      }
    });
    daemon.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    await waitForAsync(
      async () => {
        alive();
        const s = await scrape();
        return s !== null && (valueOf(s, "cgwatch_watched_cgroups", {}) ?? 0) >= 4;
      },
      TIMEOUT,
      "the daemon to serve /metrics with the 4 scratch cgroups watched",
    );
  });

  after(async () => {
    for (const h of hogs) h.kill();
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill("SIGKILL");
    for (const cg of [oom, kill, cpu, pids]) await cg.remove();
  });

  void it("oom-rescue raises memory.max and pressure-relief moves memory.high of a throttled cgroup", async () => {
    hogs.push(oom.memoryHog(48, 120, TIMEOUT));
    await waitFor(
      () => alive() && decisions("oom-rescue", oom.cgroup).some((l) => l["outcome"] === "applied"),
      TIMEOUT,
      `oom-rescue to act: ${dump()}`,
    );
    assert.ok(Number(oom.read("memory.max")) > 32 * MiB, `memory.max ${oom.read("memory.max")}`);
    await waitFor(
      () => alive() && decisions("pressure-relief", oom.cgroup).some((l) => l["outcome"] === "applied"),
      TIMEOUT,
      `pressure-relief to act: ${dump()}`,
    );
    assert.notEqual(oom.read("memory.high").trim(), String(30 * MiB));
    assert.ok(oom.counter("memory.events", "high") > 0);
  });

  void it("throttle-burst raises cpu.max of a throttled cgroup", async () => {
    const hog = cpu.cpuHog(TIMEOUT);
    hogs.push(hog);
    await waitFor(
      () => alive() && decisions("throttle-burst", cpu.cgroup).some((l) => l["outcome"] === "applied"),
      TIMEOUT,
      `throttle-burst to act: ${dump()}`,
    );
    const quota = Number(cpu.read("cpu.max").trim().split(/\s+/)[0]);
    assert.ok(quota > 10000, `cpu.max ${cpu.read("cpu.max")}`);
    hog.kill();
    await hog.exited;
  });

  void it("serves on /metrics the counters the kernel shows (memory.events, pids.events, cpu.stat)", async () => {
    const killHog = kill.memoryHog(128, 30, TIMEOUT);
    const forker = pids.spawn("/bin/sh", ["-c", "for i in 1 2 3 4 5 6 7 8; do /bin/sleep 300 & done; wait"], TIMEOUT);
    hogs.push(killHog, forker);
    assert.equal((await killHog.exited).signal, "SIGKILL");
    assert.equal(killHog.timedOut, false, "the hog must be OOM-killed, not stopped by its timeout");
    await waitFor(() => pids.counter("pids.events", "max") > 0, TIMEOUT, "pids.max to refuse a fork");
    pids.write("cgroup.kill", "1");
    await forker.exited;
    // The hogs are gone: the kernel's counters are still now, and the daemon must catch up to exactly them.
    const want: [string, Record<string, string>, number][] = [
      [
        "cgwatch_memory_events_total",
        { cgroup: kill.cgroup, event: "oom_kill" },
        kill.counter("memory.events", "oom_kill"),
      ],
      ["cgwatch_memory_events_total", { cgroup: kill.cgroup, event: "oom" }, kill.counter("memory.events", "oom")],
      ["cgwatch_memory_events_total", { cgroup: kill.cgroup, event: "max" }, kill.counter("memory.events", "max")],
      ["cgwatch_pids_events_total", { cgroup: pids.cgroup, event: "max" }, pids.counter("pids.events", "max")],
      ["cgwatch_cpu_throttled_periods_total", { cgroup: cpu.cgroup }, cpu.counter("cpu.stat", "nr_throttled")],
    ];
    assert.ok((want[0]?.[2] ?? 0) >= 1, "the kernel counted an OOM kill");
    let last: readonly ParsedSample[] = [];
    await waitForAsync(
      async () => {
        alive();
        last = (await scrape()) ?? [];
        return want.every(([name, labels, v]) => valueOf(last, name, labels) === v);
      },
      TIMEOUT,
      "metrics to equal the kernel's counters",
    ).catch((err: unknown) => {
      const got = want
        .map(
          ([name, labels, v]) => `${name}${JSON.stringify(labels)} kernel=${v} metrics=${valueOf(last, name, labels)}`,
        )
        .join("\n");
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${got}`);
    });
    // Every action a policy proposed and the executor applied is counted in
    // cgwatch_actions_total, from its first scrape on; the policies keep
    // acting meanwhile, so scrape until the count matches the log.
    const appliedLines = (): LogLine[] =>
      lines.filter((l) => l["component"] === "actions" && l["msg"] === "action decision" && l["outcome"] === "applied");
    let applied = appliedLines();
    assert.ok(applied.length >= 2, "the policies acted");
    let series: ParsedSample[] = [];
    const counted = (): number =>
      series.filter((s) => s.labels["outcome"] === "applied").reduce((n, s) => n + s.value, 0);
    await waitForAsync(
      async () => {
        alive();
        series = ((await scrape()) ?? []).filter((s) => s.name === "cgwatch_actions_total");
        applied = appliedLines(); // pressure-relief keeps acting on samples: compare like with like
        return counted() === applied.length;
      },
      TIMEOUT,
      "cgwatch_actions_total to count the applied actions",
    ).catch((err: unknown) => {
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}: cgwatch_actions_total: ${JSON.stringify(series)}; applied lines: ${applied.map((l) => `${String(l["policy"])}/${String(l["action"])}`).join(", ")}`,
      );
    });
  });

  void it("stops cleanly on SIGTERM", async () => {
    daemon.kill("SIGTERM");
    const r = await exited;
    assert.equal(r.code, 0, `exit ${JSON.stringify(r)}: ${dump()}`);
  });
});
