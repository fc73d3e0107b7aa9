/**
 * Acting is opt-in, tested as an operator meets it: a real `cgwatch run`
 * process with the shipped config/cgwatch.yaml against a fake v2 cgroupfs
 * (--cgroup-root) where a cgroup hits its memory limit, which the shipped
 * oom-rescue policy answers with a raise. With the shipped config nothing in
 * the tree changes and the decision is logged as observe_only; with a config
 * whose watch rule names the cgroup, the raise lands.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildDist } from "../helpers/cliRun.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/src/cli.js");
const SHIPPED = path.join(ROOT, "config/cgwatch.yaml");
const MiB = 1024 * 1024;

// The CLI runs from dist/: compiled unless fresh, one test file at a time
// (an unconditional tsc here rewrote dist/ under other files' CLI children).
beforeAll(buildDist, 180_000);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

type Line = Record<string, unknown>;

interface Run {
  readonly child: ChildProcess;
  lines(): Line[];
  stderr(): string;
}

function run(config: string, host: FakeHost): Run {
  const child = spawn(
    process.execPath,
    [CLI, "run", "--config", config, "--cgroup-root", host.root, "--metrics-listen", "127.0.0.1:0"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  return {
    child,
    lines: () =>
      out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Line),
    stderr: () => err,
  };
}

async function waitFor(pred: () => boolean, what: string, r: Run, timeoutMs = 30_000): Promise<void> {
  const t = Date.now();
  while (!pred()) {
    if (Date.now() - t > timeoutMs)
      throw new Error(
        `timed out waiting for ${what}\nstderr: ${r.stderr()}\nlog: ${JSON.stringify(r.lines().slice(-10))}`,
      );
    if (r.child.exitCode !== null)
      throw new Error(`cgwatch exited ${r.child.exitCode} waiting for ${what}\nstderr: ${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

async function stop(r: Run): Promise<number | null> {
  if (r.child.exitCode !== null) return r.child.exitCode;
  const done = new Promise<number | null>((res) => r.child.once("exit", (code) => res(code)));
  r.child.kill("SIGTERM");
  return done;
}

/** Every file of the tree with its content and mtime. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(root, p), `${fs.readFileSync(p, "utf8")}\u0000${fs.statSync(p).mtimeMs}`);
    }
  };
  walk(root);
  return out;
}

/** A v2 tree with "app" at 95% of a 100 MiB limit: the next memory.events "max" is an oom-rescue case. */
function nearLimitHost(): FakeHost {
  const host = fakeHost(2);
  cleanups.push(() => host.cleanup());
  host.addCgroup("app", { "memory.max": `${100 * MiB}\n`, "memory.current": `${95 * MiB}\n` });
  host.addCgroup("other", { "memory.max": `${100 * MiB}\n`, "memory.current": `${10 * MiB}\n` });
  return host;
}

const hitLimit = (host: FakeHost): void =>
  host.write("app", "memory.events", "low 0\nhigh 0\nmax 1\noom 0\noom_kill 0\noom_group_kill 0\n");
const decisions = (r: Run): Line[] => r.lines().filter((l) => l["msg"] === "action decision" && l["cgroup"] === "app");
/** The startup line that says what cgwatch will touch (logged just before "ready: first scan complete"). */
const readyLine = (r: Run): Line | undefined =>
  r.lines().find((l) => typeof l["msg"] === "string" && l["msg"].startsWith("watching "));

describe("acting is opt-in (real cgwatch run on a fake v2 cgroupfs)", () => {
  it("the shipped config observes every cgroup and writes nothing: oom-rescue's raise is logged as observe_only", async () => {
    const host = nearLimitHost();
    const before = snapshot(host.root);
    const r = run(SHIPPED, host);
    await waitFor(() => readyLine(r) !== undefined, "ready", r);
    expect(readyLine(r)).toMatchObject({ watched: 2, actable: 0 });
    expect(readyLine(r)?.["msg"]).toMatch(/watching 2 cgroups, may act on 0 \(2 observed only/);
    hitLimit(host);
    const events = snapshot(host.root).get("app/memory.events");
    await waitFor(() => decisions(r).length > 0, "oom-rescue's decision", r);
    expect(decisions(r)[0]).toMatchObject({
      policy: "oom-rescue",
      action: "set_memory_limit",
      outcome: "dry_run",
      reason: "observe_only",
      before: String(100 * MiB),
    });
    expect(await stop(r)).toBe(0);
    // Every file as it was before cgwatch started, but the one the test itself
    // wrote and the PSI trigger registrations: on a real kernel writing a
    // trigger into memory.pressure subscribes the fd (gone when it closes) and
    // changes nothing; on this fake tree the text lands in the file.
    const after = snapshot(host.root);
    expect(after.get("app/memory.events")).toBe(events);
    after.set("app/memory.events", before.get("app/memory.events") ?? "");
    for (const [file, text] of after) {
      if (file.endsWith(".pressure") && text !== before.get(file)) {
        expect(text, file).toMatch(/^some 300000 2000000/);
        after.set(file, before.get(file) ?? "");
      }
    }
    expect(after).toEqual(before);
    expect(host.read("app", "memory.max").trim()).toBe(String(100 * MiB));
  });

  it("a watch rule the operator wrote opts its cgroups in: the raise lands on app, other stays observed", async () => {
    const host = nearLimitHost();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-optin-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const config = path.join(dir, "cgwatch.yaml");
    // The shipped file with one line added under watch:, as the docs tell operators to do.
    fs.writeFileSync(config, fs.readFileSync(SHIPPED, "utf8").replace(/^watch:\n/m, "watch:\n  - app\n"));
    const r = run(config, host);
    await waitFor(() => readyLine(r) !== undefined, "ready", r);
    expect(readyLine(r)).toMatchObject({ watched: 2, actable: 1 });
    hitLimit(host);
    await waitFor(() => decisions(r).length > 0, "oom-rescue's decision", r);
    expect(decisions(r)[0]).toMatchObject({ policy: "oom-rescue", action: "set_memory_limit", outcome: "applied" });
    expect(Number(host.read("app", "memory.max").trim())).toBeGreaterThan(100 * MiB);
    expect(await stop(r)).toBe(0);
  });
});
