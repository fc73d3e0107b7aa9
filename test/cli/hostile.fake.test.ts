/**
 * `cgwatch run` as operators run it (a child process, so a blocked event
 * loop fails this test instead of hanging the test runner) against a fake v2
 * tree where one watched cgroup's memory.events is a FIFO with no writer:
 * /healthz answers, another cgroup's OOM reaches /metrics, the problem is
 * logged once when it starts and once when it clears, and counted.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildDist } from "../helpers/cliRun.js";
import { fakeHost } from "../helpers/fakeCgroupfs.js";
import { makeFifo } from "../helpers/hostileTree.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/src/cli.js");

// The CLI runs from dist/: compiled unless fresh, one test file at a time
// (an unconditional tsc here rewrote dist/ under other files' CLI children).
beforeAll(buildDist, 180_000);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function lines(buf: string): Record<string, unknown>[] {
  return buf
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitFor(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const t = Date.now();
  while (!(await pred())) {
    if (Date.now() - t > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function get(url: string): Promise<{ status: number; body: string } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return null;
  }
}

function startRun(configFile: string): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [CLI, "run", "--config", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  cleanups.push(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return { child, out: () => out };
}

describe("cgwatch run on a hostile tree", () => {
  it("a FIFO at a watched path: /healthz answers, another cgroup's OOM reaches /metrics, the problem is logged once at start and once at clear", async () => {
    const host = fakeHost(2);
    cleanups.push(() => host.cleanup());
    host.addCgroup("good");
    host.addCgroup("bad");
    makeFifo(host.file("bad", "memory.events"));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-hostile-cli-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const config = path.join(dir, "cgwatch.yaml");
    fs.writeFileSync(
      config,
      [
        `cgroupRoot: ${JSON.stringify(host.root)}`,
        'watch: [ "good", "bad" ]',
        "policies: { builtin: false, dirs: [] }",
        "metrics: { listen: 127.0.0.1:0 }",
        "safetyNetInterval: 1s",
        "selfProtection: { oomScoreAdj: 0 }",
        "log: { level: info }",
        "",
      ].join("\n"),
    );
    const run = startRun(config);
    await waitFor(
      () => run.out().includes("ready: first scan complete"),
      "ready (a blocking open of the FIFO never gets there)",
      20_000,
    );
    const listening = lines(run.out()).find((l) => l["msg"] === "metrics listening")?.["url"];
    const url = typeof listening === "string" ? listening : "";
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    const base = url.replace(/\/metrics$/, "");

    const health = await get(`${base}/healthz`);
    expect(health?.status).toBe(200);

    host.write("good", "memory.events", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\noom_group_kill 0\n");
    await waitFor(
      async () =>
        /cgwatch_memory_events_total\{cgroup="good",event="oom_kill"\} 1\b/.test(
          (await get(`${base}/metrics`))?.body ?? "",
        ),
      "good's oom_kill in /metrics",
    );

    // Several safety-net sweeps re-read the FIFO path: still one line, one count.
    await new Promise((r) => setTimeout(r, 3500));
    // (An in-place rewrite of good's memory.events can be read empty mid-write: a fake-tree artefact, a problem of its own. Only bad's count here.)
    const ofBad = (l: Record<string, unknown>): boolean => typeof l["path"] === "string" && l["path"].includes("/bad/");
    const started = (): Record<string, unknown>[] =>
      lines(run.out()).filter((l) => String(l["msg"]).startsWith("read problem started") && ofBad(l));
    expect(started()).toHaveLength(1);
    expect(started()[0]).toMatchObject({ level: "warn", file: "memory.events", reason: "fifo" });
    expect((await get(`${base}/metrics`))?.body).toMatch(
      /cgwatch_read_problems_total\{file="memory.events",reason="fifo"\} 1\b/,
    );
    expect((await get(`${base}/healthz`))?.status).toBe(200);

    // The FIFO becomes a control file again: cleared once, and its OOM is seen.
    fs.rmSync(host.file("bad", "memory.events"));
    fs.writeFileSync(host.file("bad", "memory.events"), "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
    const cleared = (): Record<string, unknown>[] =>
      lines(run.out()).filter((l) => String(l["msg"]).startsWith("read problem cleared") && ofBad(l));
    await waitFor(() => cleared().length > 0, "the problem cleared");
    await new Promise((r) => setTimeout(r, 1500));
    expect(cleared()).toHaveLength(1);
    expect(started()).toHaveLength(1);

    run.child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => run.child.once("exit", (c) => resolve(c)));
    expect(code).toBe(0);
  }, 90_000);

  it("a policy that does not compile (syntax error, bad meta): run refuses to start with exit 78, exactly as check does, naming every problem with line:col", async () => {
    const host = fakeHost(2);
    cleanups.push(() => host.cleanup());
    host.addCgroup("good");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-badpolicy-cli-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const policies = path.join(dir, "policies");
    fs.mkdirSync(policies);
    fs.writeFileSync(
      path.join(policies, "ok.js"),
      'export const meta = { name: "ok", on: ["oom_kill"] };\nexport function onEvent() { return []; }\n',
    );
    fs.writeFileSync(
      path.join(policies, "syntax.js"),
      'export const meta = { name: "syntax", on: ["oom_kill"] };\nexport function onEvent() {\n  return [1;\n}\n',
    );
    fs.writeFileSync(
      path.join(policies, "meta.js"),
      'export const meta = {\n  name: "Bad Name",\n  on: ["oom_kill", "under_om"],\n  cooldown: "soon",\n};\nexport function onEvent() { return []; }\n',
    );
    const config = path.join(dir, "cgwatch.yaml");
    fs.writeFileSync(
      config,
      [
        `cgroupRoot: ${JSON.stringify(host.root)}`,
        'watch: [ "good" ]',
        `policies: { builtin: false, dirs: [ ${JSON.stringify(policies)} ] }`,
        "metrics: { listen: 127.0.0.1:0 }",
        "",
      ].join("\n"),
    );
    const check = spawnSync(process.execPath, [CLI, "check", "--config", config], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(check.status).toBe(78);
    const run = startRun(config);
    const code = await new Promise<number | null>((resolve) => run.child.once("exit", (c) => resolve(c)));
    expect(code).toBe(78);
    expect(run.out()).not.toContain("ready: first scan complete");
    const located = (text: string): string[] =>
      text
        .split("\n")
        .filter((l) => l.startsWith(policies))
        .map((l) => l.slice(policies.length + 1).replace(/: .*/, ""))
        .sort();
    // Every problem, each with its line:col, from both commands.
    expect(located(run.out())).toEqual(["meta.js:2:3", "meta.js:3:20", "meta.js:4:3", "syntax.js:3:12"]);
    expect(located(check.stdout)).toEqual(located(run.out()));
  }, 90_000);
});
