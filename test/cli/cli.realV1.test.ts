/**
 * The CLI as operators run it, as a child process: `cgwatch run` lifecycle
 * on the real kernel (ready, SIGHUP with a changed policy, SIGTERM → exit 0,
 * no fd left open, no cgroup left behind), `cgwatch demo` to completion, and
 * `cgwatch check` exit codes.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, expect, it } from "vitest";
import { buildDist } from "../helpers/cliRun.js";
import { createScratchCgroup, describeRealV1, hogArgs, waitExit, type ScratchCgroup } from "../helpers/realCgroup.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/src/cli.js");

// The CLI runs from dist/: compiled unless fresh (the suite's own build step runs first).
beforeAll(buildDist, 120_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function lines(buf: string): Record<string, unknown>[] {
  return buf
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitFor(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const t = Date.now();
  while (!pred()) {
    if (Date.now() - t > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const POLICY_V1 = (step: number): string => `
export const meta = { name: "bump", on: ["oom_kill", "under_oom"], match: ["**"], cooldown: "0s" };
export function onEvent(event, cgroup, ctx) {
  if (event.kind === "under_oom" && !event.underOom) return [];
  return [{ kind: "annotate", message: "version ${step}" }];
}
`;

describeRealV1("cgwatch CLI", ["memory"], () => {
  it("run: ready after the scan, SIGHUP swaps a changed policy (counters continue), SIGTERM exits 0 with no fd or cgroup left", async () => {
    const scratch: ScratchCgroup = createScratchCgroup(["memory"], "cli");
    cleanups.push(() => scratch.remove());
    scratch.write("memory", "memory.limit_in_bytes", String(40 * 1024 * 1024));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-cli-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.mkdirSync(path.join(dir, "policies"));
    fs.writeFileSync(path.join(dir, "policies/bump.js"), POLICY_V1(1));
    fs.writeFileSync(
      path.join(dir, "cgwatch.yaml"),
      [
        `watch: [ ${JSON.stringify(scratch.cgroup)} ]`,
        "policies:",
        "  builtin: false",
        `  dirs: [ ${JSON.stringify(path.join(dir, "policies"))} ]`,
        "guardrails: { cooldown: 0s }",
        "metrics: { listen: 127.0.0.1:0 }",
        "pollInterval: 100ms",
        "log: { level: debug }",
        "",
      ].join("\n"),
    );
    const child = spawn(process.execPath, [CLI, "run", "--config", path.join(dir, "cgwatch.yaml")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    cleanups.push(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    await waitFor(() => out.includes("ready: first scan complete"), "ready");
    const ready = lines(out).find((l) => l["msg"] === "ready: first scan complete");
    expect(ready?.["watched"]).toBe(1);

    // An OOM kill: policy v1 annotates.
    const [cmd, args] = hogArgs(100, 1);
    await waitExit(scratch.spawnInside(cmd, args, 30_000));
    await waitFor(
      () => lines(out).some((l) => l["msg"] === "action decision" && JSON.stringify(l).includes("version 1")),
      "v1 decision",
    );

    // Change the policy, SIGHUP: the next event is handled by version 2.
    fs.writeFileSync(path.join(dir, "policies/bump.js"), POLICY_V1(2));
    child.kill("SIGHUP");
    await waitFor(() => lines(out).some((l) => l["msg"] === "policies reloaded"), "reload");
    await waitExit(scratch.spawnInside(cmd, args, 30_000));
    await waitFor(
      () => lines(out).some((l) => l["msg"] === "action decision" && JSON.stringify(l).includes("version 2")),
      "v2 decision",
    );
    // Counters continued: the second kill is 1 → 2, not a fresh 0 → 1.
    const kills = lines(out).filter((l) => typeof l["msg"] === "string" && l["msg"].startsWith("oom_kill in"));
    const counters = kills.map((l) => (l["event"] as { counter: { before: number; after: number } }).counter);
    expect(counters.at(-1)?.before).toBeGreaterThanOrEqual(1);
    // A reload must not leak watches or eventfds. Counted exactly, on what a
    // leak would grow: eventfds and inotify watches (not every fd: the OOM
    // settle re-reads and the metrics passes open files for a moment).
    const kept = (): { eventfds: number; inotifyWatches: number } => {
      let eventfds = 0;
      let inotifyWatches = 0;
      for (const fd of fs.readdirSync(`/proc/${child.pid}/fd`)) {
        let target: string;
        try {
          target = fs.readlinkSync(`/proc/${child.pid}/fd/${fd}`);
        } catch {
          continue; // closed between readdir and readlink
        }
        if (target === "anon_inode:[eventfd]") eventfds++;
        else if (target === "anon_inode:inotify") {
          try {
            inotifyWatches += fs
              .readFileSync(`/proc/${child.pid}/fdinfo/${fd}`, "utf8")
              .split("\n")
              .filter((l) => l.startsWith("inotify wd:")).length;
          } catch {
            /* closed meanwhile */
          }
        }
      }
      return { eventfds, inotifyWatches };
    };
    const keptBefore = kept();
    expect(keptBefore.eventfds).toBeGreaterThan(0); // v1 OOM notification through eventfd: there is something to leak
    for (let i = 0; i < 5; i++) {
      const reloadsSoFar = lines(out).filter((l) => l["msg"] === "policies reloaded").length;
      child.kill("SIGHUP");
      await waitFor(() => lines(out).filter((l) => l["msg"] === "policies reloaded").length > reloadsSoFar, "reload");
    }
    expect(kept()).toEqual(keptBefore);

    child.kill("SIGTERM");
    const exit = await waitExit(child);
    expect({ code: exit.code, err }).toEqual({ code: 0, err: "" });
    expect(lines(out).at(-1)?.["msg"]).toBe("stopped");
    // cgwatch creates no cgroups of its own. Test cgroups beside it (this scratch, other files' scratches,
    // container parents, demos: cgwatch-<kind>-<their pid>-…) come and go as other files run at the same time.
    const othersPid = (d: string): boolean => {
      const m = /^cgwatch-(?:[a-z]+-)?(\d+)-/.exec(d);
      return m !== null && Number(m[1]) !== child.pid;
    };
    expect(
      fs.readdirSync(path.dirname(scratch.dir("memory"))).filter((d) => d.startsWith("cgwatch-") && !othersPid(d)),
    ).toEqual([]);
  }, 90_000);

  it("demo runs to completion and leaves nothing behind", () => {
    // Only this demo's own cgroups (named with its pid) are checked: other
    // test files and sibling worktrees run demos of their own at the same time.
    const r = spawnSync(process.execPath, [CLI, "demo"], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/memory hog finished normally: rescued/);
    expect(r.stdout).toMatch(/action oom-rescue: \{"kind":"set_memory_limit".*→ applied/);
    expect(r.stdout).toMatch(/action throttle-burst: \{"kind":"set_cpu_quota".*→ applied/);
    expect(r.stdout).toMatch(/cleaned up/);
    const created = /created (\S+) \(memory limit[^)]*\) and (\S+) \(cpu quota/.exec(r.stdout);
    expect(created?.slice(1)).toEqual([
      expect.stringMatching(new RegExp(`(^|/)cgwatch-demo-${r.pid}-mem$`)),
      expect.stringMatching(new RegExp(`(^|/)cgwatch-demo-${r.pid}-cpu$`)),
    ]);
    const [mem = "", cpu = ""] = created?.slice(1) ?? [];
    const dirs = [
      path.join("/sys/fs/cgroup/memory", mem),
      ...["cpu", "cpuacct"].map((c) => path.join("/sys/fs/cgroup", c, cpu)),
    ];
    expect(dirs.filter((d) => fs.existsSync(d))).toEqual([]);
  }, 150_000);
});

it("check: a valid config exits 0, a bad one exits 78 naming file:line and key", () => {
  const ok = spawnSync(process.execPath, [CLI, "check", "--config", path.join(ROOT, "config/cgwatch.yaml")], {
    encoding: "utf8",
  });
  expect(ok.status, ok.stdout + ok.stderr).toBe(0);
  expect(ok.stdout).toMatch(/5 policies compiled/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-check-"));
  const bad = path.join(dir, "bad.yaml");
  fs.writeFileSync(bad, "pollInterval: 1s\nguardrails:\n  memory:\n    floor: lots\n");
  const r = spawnSync(process.execPath, [CLI, "check", "--config", bad], { encoding: "utf8" });
  fs.rmSync(dir, { recursive: true, force: true });
  expect(r.status).toBe(78);
  expect(r.stdout).toContain(`${bad}:4:`);
  expect(r.stdout).toContain("guardrails.memory.floor");
});

it("check: policies.cooldowns naming no policy is an error at its line", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-check-"));
  const file = path.join(dir, "cd.yaml");
  fs.writeFileSync(file, "policies:\n  cooldowns:\n    oom-rescue: 5s\n    oom-resuce: 5s\n");
  const r = spawnSync(process.execPath, [CLI, "check", "--config", file], { encoding: "utf8" });
  fs.rmSync(dir, { recursive: true, force: true });
  expect(r.status).toBe(78);
  expect(r.stdout).toMatch(
    new RegExp(
      `${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:4:\\d+: policies\\.cooldowns\\.oom-resuce: no policy named "oom-resuce"`,
    ),
  );
});

it("run refuses a bad config with the same errors and exit code", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-check-"));
  const bad = path.join(dir, "bad.yaml");
  fs.writeFileSync(bad, "pollInterval: soon\n");
  const r = spawnSync(process.execPath, [CLI, "run", "--config", bad], { encoding: "utf8", timeout: 20_000 });
  fs.rmSync(dir, { recursive: true, force: true });
  expect(r.status).toBe(78);
  expect(r.stderr).toContain(`${bad}:1:`);
  expect(r.stderr).toContain("pollInterval");
});

it("run under socket activation serves /metrics from the inherited fd (LISTEN_FDS/LISTEN_PID as systemd sets them)", async () => {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  const port = (listener.address() as net.AddressInfo).port;
  const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-sock-"));
  fs.writeFileSync(
    path.join(dir, "c.yaml"),
    'watch: [ "cgwatch-no-such-cgroup-*" ]\npolicies: { builtin: false }\npsi: { memory: "off" }\n',
  );
  // $$ of the shell is the pid node gets after exec: LISTEN_PID must name cgwatch itself.
  const child = spawn(
    "/bin/sh",
    [
      "-c",
      `LISTEN_FDS=1 LISTEN_PID=$$ LISTEN_FDNAMES=cgwatch-metrics exec "${process.execPath}" "${CLI}" run --config "${dir}/c.yaml"`,
    ],
    {
      stdio: ["ignore", "pipe", "pipe", fd],
    },
  );
  try {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes("ready: first scan complete"), "ready");
    listener.close(); // only cgwatch holds the socket now
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/cgwatch_watched_cgroups 0/);
    child.kill("SIGTERM");
    expect((await waitExit(child)).code).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
