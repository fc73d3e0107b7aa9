/**
 * `cgwatch run`'s contract with systemd (lifecycle/run.ts; the unit is
 * Type=notify with WatchdogSec=): READY=1 only after the first scan,
 * WATCHDOG=1 only while the watch loop beats, STOPPING=1 on SIGTERM, a bad
 * config on SIGHUP keeps the old one, exit 1 when stopping hangs. The
 * notify socket is real (test/helpers/notifySocket.ts); the daemon behind
 * runDaemon is a fake whose readiness, heartbeat and stop the test holds,
 * and signals come from an emitter, not the test runner's own process.
 */
import { EventEmitter } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { planReload } from "../../src/config/reload.js";
import type { RuntimeConfig } from "../../src/config/types.js";
import { startDaemon, type Daemon, type DaemonOptions } from "../../src/daemon.js";
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, runDaemon } from "../../src/lifecycle/run.js";
import { PolicySandbox } from "../../src/policy/sandbox.js";
import type { ReloadReport } from "../../src/policy/types.js";
import { until } from "../helpers/daemonHarness.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";
import { startNotifySocket, type NotifySocket } from "../helpers/notifySocket.js";

let host: FakeHost;
let dir: string;
let sock: NotifySocket;
const savedEnv = { ...process.env };

beforeEach(async () => {
  host = fakeHost(2);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-run-"));
  sock = await startNotifySocket();
  process.env["NOTIFY_SOCKET"] = sock.path;
  delete process.env["WATCHDOG_USEC"];
  delete process.env["WATCHDOG_PID"];
});
/** Every run is stopped after its test: a watchdog timer left behind would ping the next test's socket. */
const runs: { signals: EventEmitter; exit: Promise<number> }[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) {
    r.signals.emit("SIGTERM");
    // Bounded: a run that never got past its first scan (a failed test) has no handler yet.
    await Promise.race([r.exit, new Promise((res) => setTimeout(res, 5_000))]);
  }
  for (const k of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  sock.close();
  host.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

const configFile = (): string => path.join(dir, "cgwatch.yaml");
function writeConfig(extra = ""): void {
  fs.writeFileSync(
    configFile(),
    `cgroupRoot: ${host.root}\nwatch: [ "docker/*" ]\npolicies: { builtin: false }\nmetrics: { listen: "127.0.0.1:0" }\n${extra}`,
  );
}

/** A daemon whose first scan, heartbeat and stop the test controls. */
function fakeDaemon() {
  let finishScan: (n: number) => void = () => undefined;
  const ready = new Promise<number>((r) => (finishScan = r));
  const state = {
    beating: true,
    heartbeatReads: 0,
    applied: [] as RuntimeConfig[],
    policyReloads: 0,
    startedWith: null as DaemonOptions | null,
    stop: (): Promise<void> => Promise.resolve(),
  };
  const daemon = {
    ready,
    metrics: {
      lastHeartbeat: () => {
        state.heartbeatReads++;
        return state.beating ? performance.now() : performance.now() - 3_600_000;
      },
    },
    metricsServer: null,
    status: () => [],
    reloadPolicies: (): Promise<ReloadReport> => {
      state.policyReloads++;
      return Promise.resolve({ results: [], errors: [] } as unknown as ReloadReport);
    },
    applyConfig: (next: RuntimeConfig) => {
      state.applied.push(next);
      // What the real daemon answers: compared with the config it started with.
      if (state.startedWith === null) throw new Error("applyConfig before start");
      return planReload(state.startedWith.config, next);
    },
    stop: () => state.stop(),
  } as unknown as Daemon;
  const start = (opts: DaemonOptions): Promise<Daemon> => {
    state.startedWith = opts;
    return Promise.resolve(daemon);
  };
  return { start, state, finishScan };
}

function run(fake: ReturnType<typeof fakeDaemon>, stopTimeoutMs = 10_000) {
  const signals = new EventEmitter();
  const logs: Record<string, unknown>[] = [];
  const exit = runDaemon(
    { path: configFile(), env: {} },
    {
      start: fake.start,
      signals,
      stopTimeoutMs,
      logDestination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
    },
  );
  runs.push({ signals, exit });
  return { signals, logs, exit };
}

describe("readiness", () => {
  it("READY=1 (with the watched count) is sent only once the first scan is complete", async () => {
    writeConfig();
    const fake = fakeDaemon();
    run(fake);
    await until(() => fake.state.startedWith, 20_000, "the daemon to start");
    // The layout came from cgroupRoot: the fake v2 tree.
    expect(fake.state.startedWith?.layout).toMatchObject({ mode: "v2", v2Root: host.root });
    // Anything runDaemon sent before the scan finished would arrive before this sentinel.
    sock.send("TEST_SENTINEL=1");
    fake.finishScan(3);
    await sock.until((ms) => ms.some((m) => m.startsWith("READY=1")), "READY=1");
    expect(sock.messages).toEqual(["TEST_SENTINEL=1", "READY=1\nSTATUS=watching 3 cgroups"]);
  });

  it("a bad config at start exits 78 (EX_CONFIG) and notifies nothing", async () => {
    fs.writeFileSync(configFile(), "watch: [ 42 ]\npollInterval: soon\n");
    const fake = fakeDaemon();
    expect(await run(fake).exit).toBe(EXIT_CONFIG);
    expect(fake.state.startedWith).toBeNull();
    sock.send("TEST_SENTINEL=1");
    await sock.until((ms) => ms.length > 0, "the sentinel");
    expect(sock.messages).toEqual(["TEST_SENTINEL=1"]);
  });

  it("a daemon that fails to start exits 1 and never says READY", async () => {
    writeConfig();
    const { exit, logs } = run({ ...fakeDaemon(), start: () => Promise.reject(new Error("no cgroupfs")) });
    expect(await exit).toBe(EXIT_FAILURE);
    expect(logs.some((l) => l["msg"] === "cgwatch failed to start")).toBe(true);
    sock.send("TEST_SENTINEL=1");
    await sock.until((ms) => ms.length > 0, "the sentinel");
    expect(sock.messages).toEqual(["TEST_SENTINEL=1"]);
  });
});

describe("watchdog", () => {
  it("WATCHDOG=1 at half of WatchdogSec while the loop beats, none while it is stalled, again once it beats", async () => {
    process.env["WATCHDOG_USEC"] = "200000"; // 200 ms: a ping check every 100 ms
    writeConfig();
    const fake = fakeDaemon();
    run(fake);
    fake.finishScan(1);
    const pings = (): number => sock.messages.filter((m) => m === "WATCHDOG=1").length;
    await sock.until(() => pings() >= 2, "two watchdog pings while beating");
    // The loop stalls. Wait for three watchdog checks (the timer reads the
    // heartbeat each time) rather than for a span of time, then mark the
    // point with a sentinel: no ping may sit between the two.
    fake.state.beating = false;
    const reads = fake.state.heartbeatReads;
    sock.send("TEST_STALLED=1");
    await until(() => fake.state.heartbeatReads >= reads + 3, 20_000, "three watchdog checks while stalled");
    sock.send("TEST_SENTINEL=1");
    await sock.until((ms) => ms.includes("TEST_SENTINEL=1"), "the sentinel");
    const stalled = sock.messages.slice(
      sock.messages.indexOf("TEST_STALLED=1") + 1,
      sock.messages.indexOf("TEST_SENTINEL=1"),
    );
    // The check and the send are one synchronous step, so no ping decided before the stall can land after the mark.
    expect(stalled).toEqual([]);
    fake.state.beating = true;
    await sock.until(
      (ms) => ms.slice(ms.indexOf("TEST_SENTINEL=1")).includes("WATCHDOG=1"),
      "pings again once beating",
    );
  });

  it("no watchdog pings when WATCHDOG_PID names another process (systemd meant the main pid)", async () => {
    process.env["WATCHDOG_USEC"] = "200000";
    process.env["WATCHDOG_PID"] = "1";
    writeConfig();
    const fake = fakeDaemon();
    const r = run(fake);
    fake.finishScan(1);
    await sock.until((ms) => ms.some((m) => m.startsWith("READY=1")), "READY=1");
    // No timer at all: nothing ever reads the heartbeat. A stop ends the run, and no ping came.
    r.signals.emit("SIGTERM");
    expect(await r.exit).toBe(EXIT_OK);
    expect(fake.state.heartbeatReads).toBe(0);
    expect(sock.messages.filter((m) => m === "WATCHDOG=1")).toEqual([]);
  });
});

describe("reload (SIGHUP)", () => {
  it("a bad config is refused and the old one kept (the next good reload is compared with the original), policies still reload", async () => {
    writeConfig("pollInterval: 1s\n");
    const fake = fakeDaemon();
    const { signals, logs } = run(fake);
    fake.finishScan(1);
    await sock.until((ms) => ms.some((m) => m.startsWith("READY=1")), "READY=1");

    fs.writeFileSync(configFile(), `cgroupRoot: ${host.root}\nwatch: [ "docker/*" ]\npollInterval: often\n`);
    signals.emit("SIGHUP");
    await until(() => fake.state.policyReloads === 1, 20_000, "the policy reload");
    expect(fake.state.applied).toEqual([]);
    expect(logs.some((l) => typeof l["msg"] === "string" && l["msg"].startsWith("config reload refused"))).toBe(true);
    // systemd's reload protocol: RELOADING=1, then READY=1 once done.
    await sock.until((ms) => ms.filter((m) => m === "READY=1").length === 1, "READY=1 after the reload");
    expect(sock.messages.slice(-2)).toEqual(["RELOADING=1", "READY=1"]);

    // A good config that changes a restart-only key and the log level: applied, and the
    // restart-only change is named against the ORIGINAL config (pollInterval 1s), which the bad one did not replace.
    writeConfig("pollInterval: 1s\nsafetyNetInterval: 5s\nlog: { level: debug }\n");
    signals.emit("SIGHUP");
    await until(() => fake.state.applied.length === 1, 20_000, "the good config applied");
    expect(fake.state.applied[0]?.log.level).toBe("debug");
    const warn = logs.find(
      (l) =>
        typeof l["msg"] === "string" && l["msg"].startsWith("changed settings that take effect only after a restart"),
    );
    expect(warn?.["keys"]).toEqual(["safetyNetIntervalMs"]);
  });
});

describe("stopping", () => {
  it("SIGTERM: STOPPING=1, the daemon stopped, exit 0", async () => {
    writeConfig();
    const fake = fakeDaemon();
    let stopped = false;
    fake.state.stop = () => {
      stopped = true;
      return Promise.resolve();
    };
    const { signals, exit } = run(fake);
    fake.finishScan(1);
    await sock.until((ms) => ms.some((m) => m.startsWith("READY=1")), "READY=1");
    signals.emit("SIGTERM");
    expect(await exit).toBe(EXIT_OK);
    expect(stopped).toBe(true);
    await sock.until((ms) => ms.includes("STOPPING=1"), "STOPPING=1");
  });

  it("a stop that hangs past the timeout exits 1 (systemd would otherwise wait for TimeoutStopSec)", async () => {
    writeConfig();
    const fake = fakeDaemon();
    fake.state.stop = () => new Promise<void>(() => undefined);
    const { signals, exit, logs } = run(fake, 200);
    fake.finishScan(1);
    await sock.until((ms) => ms.some((m) => m.startsWith("READY=1")), "READY=1");
    signals.emit("SIGINT");
    expect(await exit).toBe(EXIT_FAILURE);
    expect(logs.some((l) => l["msg"] === "shutdown timed out; exiting anyway")).toBe(true);
    expect(sock.messages).toContain("STOPPING=1");
  });

  it("a stop that fails exits 1", async () => {
    writeConfig();
    const fake = fakeDaemon();
    fake.state.stop = () => Promise.reject(new Error("close failed"));
    const { signals, exit } = run(fake);
    fake.finishScan(1);
    await sock.until((ms) => ms.some((m) => m.startsWith("READY=1")), "READY=1");
    signals.emit("SIGTERM");
    expect(await exit).toBe(EXIT_FAILURE);
  });
});

describe("policies are compiled once per start", () => {
  const policy = (name: string): string =>
    `export const meta = { name: "${name}", on: ["oom_kill"], match: ["**"] };\nexport function onEvent() { return []; }\n`;
  /** Two policies in a directory of their own; the config loads them and no built-in ones. */
  function writePolicies(): void {
    const pdir = path.join(dir, "policies");
    fs.mkdirSync(pdir);
    fs.writeFileSync(path.join(pdir, "a.js"), policy("a"));
    fs.writeFileSync(path.join(pdir, "b.js"), policy("b"));
    fs.writeFileSync(
      configFile(),
      `cgroupRoot: ${host.root}\nwatch: [ "docker/*" ]\npolicies: { builtin: false, dirs: [ ${pdir} ] }\nmetrics: { listen: "127.0.0.1:0" }\n`,
    );
  }
  /** Every sandbox created and every dispose, by instance. */
  function countSandboxes() {
    const create = vi.spyOn(PolicySandbox, "create");
    const dispose = vi.spyOn(PolicySandbox.prototype, "dispose");
    return {
      created: async (): Promise<PolicySandbox[]> => {
        const results = await Promise.all(
          create.mock.results.map((r) => r.value as ReturnType<typeof PolicySandbox.create>),
        );
        return results.flatMap((r) => (r.kind === "ok" ? [r.sandbox] : []));
      },
      disposals: (sb: PolicySandbox): number => dispose.mock.contexts.filter((c) => c === sb).length,
      restore: () => {
        create.mockRestore();
        dispose.mockRestore();
      },
    };
  }

  it("the engine adopts the preflight's sandboxes (one compile per policy, not two), each disposed exactly once on stop", async () => {
    writePolicies();
    const count = countSandboxes();
    try {
      let daemon: Daemon | null = null;
      // The real daemon, minus what a test must not do to its own process (oom_score_adj, keeping the loop alive).
      const real = {
        ...fakeDaemon(),
        start: async (opts: DaemonOptions) =>
          (daemon = await startDaemon({ ...opts, protectSelf: false, persistent: false })),
      };
      const { signals, exit } = run(real);
      await until(() => daemon, 30_000, "the daemon to start");
      const started = daemon as unknown as Daemon;
      expect(started.policies.policies().map((p) => p.name)).toEqual(["a", "b"]);
      // The old code compiled four: two in the preflight (thrown away) and two again in the engine.
      const created = await count.created();
      expect(created).toHaveLength(2);
      expect(created.map((sb) => count.disposals(sb))).toEqual([0, 0]);
      await started.ready;
      signals.emit("SIGTERM");
      expect(await exit).toBe(EXIT_OK);
      expect(created.map((sb) => count.disposals(sb))).toEqual([1, 1]);
    } finally {
      count.restore();
    }
  });

  it("a start that fails leaves no sandbox of the preflight undisposed", async () => {
    writePolicies();
    const count = countSandboxes();
    try {
      const { exit } = run({ ...fakeDaemon(), start: () => Promise.reject(new Error("no cgroupfs")) });
      expect(await exit).toBe(EXIT_FAILURE);
      const created = await count.created();
      expect(created).toHaveLength(2);
      expect(created.map((sb) => count.disposals(sb))).toEqual([1, 1]);
    } finally {
      count.restore();
    }
  });

  it("a policy that fails to compile still stops the start (exit 78) and the good one's sandbox is disposed", async () => {
    writePolicies();
    fs.writeFileSync(
      path.join(dir, "policies", "b.js"),
      "export const meta = { name: 'b', on: ['oom_kill'] };\nexport function onEvent( {\n",
    );
    const count = countSandboxes();
    try {
      const fake = fakeDaemon();
      expect(await run(fake).exit).toBe(EXIT_CONFIG);
      expect(fake.state.startedWith).toBeNull();
      const created = await count.created();
      expect(created).toHaveLength(1);
      expect(count.disposals(created[0] as PolicySandbox)).toBe(1);
    } finally {
      count.restore();
    }
  });
});
