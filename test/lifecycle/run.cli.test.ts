/**
 * `cgwatch run` as systemd starts it (Type=notify, WatchdogSec=): the real
 * CLI and daemon in a child process, on a fake v2 tree (cgroupRoot), with a
 * real notify socket and real signals. run.test.ts provokes the failure
 * cases with a fake daemon; this is the wiring, end to end.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, expect, it } from "vitest";
import { waitExit } from "../helpers/realCgroup.js";
import { DIST, ensureDist } from "../helpers/dist.js";
import { until } from "../helpers/daemonHarness.js";
import { fakeHost } from "../helpers/fakeCgroupfs.js";
import { startNotifySocket } from "../helpers/notifySocket.js";

beforeAll(() => ensureDist(), 180_000);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

it("READY=1 with the count after the scan, WATCHDOG=1 pings, SIGHUP with a bad config keeps running (RELOADING=1, READY=1), SIGTERM: STOPPING=1 and exit 0", async () => {
  const host = fakeHost(2);
  cleanups.push(() => host.cleanup());
  host.addCgroup("docker");
  host.addCgroup("docker/a");
  host.addCgroup("docker/b");
  const sock = await startNotifySocket();
  cleanups.push(() => sock.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-runcli-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, "cgwatch.yaml");
  const good = `cgroupRoot: ${host.root}\nwatch: [ "docker/*" ]\npolicies: { builtin: false }\nmetrics: { listen: "127.0.0.1:0" }\n`;
  fs.writeFileSync(config, good);
  const child = spawn(process.execPath, [path.join(DIST, "src/cli.js"), "run", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: "1000000" },
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));

  await sock.until((ms) => ms.some((m) => m.startsWith("READY=1")), "READY=1", 30_000);
  expect(sock.messages.find((m) => m.startsWith("READY=1"))).toBe("READY=1\nSTATUS=watching 2 cgroups");
  expect(out).toContain("ready: first scan complete");
  await sock.until((ms) => ms.filter((m) => m === "WATCHDOG=1").length >= 2, "two watchdog pings", 30_000);

  fs.writeFileSync(config, "watch: [ 42 ]\n");
  child.kill("SIGHUP");
  await sock.until(
    (ms) => ms.includes("RELOADING=1") && ms.slice(ms.indexOf("RELOADING=1")).includes("READY=1"),
    "RELOADING=1 then READY=1",
    30_000,
  );
  await until(() => out.includes("config reload refused"), 20_000, "the refusal logged");
  expect(child.exitCode).toBeNull();

  child.kill("SIGTERM");
  const exit = await waitExit(child);
  expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
  expect(sock.messages).toContain("STOPPING=1");
}, 120_000);
