/**
 * `cgwatch run` as a child process, the way an operator runs it, on a
 * config that watches only the test's own scratch cgroups. Lines of its JSON
 * log are parsed on demand; the process is stopped (SIGTERM) by `cleanup`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { waitExit } from "./realCgroup.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI = path.join(ROOT, "dist/src/cli.js");

/** Newest modification time under `dir` (files only), 0 if absent. */
function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/**
 * Compiles dist/ unless it is newer than every source (call from beforeAll,
 * 120 s timeout). `npm test` builds first, so the test files skip it; several
 * test files run alone at once take turns through a lock directory instead of
 * writing dist/ over each other while another's CLI reads it.
 */
export function buildDist(): void {
  const fresh = (): boolean =>
    fs.existsSync(CLI) &&
    fs.statSync(CLI).mtimeMs >= Math.max(newest(path.join(ROOT, "src")), newest(path.join(ROOT, "bench")));
  if (fresh()) return;
  const lock = path.join(os.tmpdir(), `cgwatch-build-${Buffer.from(ROOT).toString("hex").slice(-32)}.lock`);
  const deadline = Date.now() + 110_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`another build holds ${lock}`);
      sleepSync(200);
    }
  }
  try {
    if (fresh()) return;
    const r = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tsc failed:\n${r.stdout}\n${r.stderr}`);
  } finally {
    fs.rmdirSync(lock);
  }
}

export function logLines(buf: string): Record<string, unknown>[] {
  return buf
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function waitFor(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const t = Date.now();
  while (!pred()) {
    if (Date.now() - t > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface CgwatchRun {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  out(): string;
  lines(): Record<string, unknown>[];
  cleanup(): Promise<void>;
}

/** Starts `cgwatch run` with the given YAML lines (metrics on an ephemeral loopback port unless set). */
export function runCgwatch(yaml: readonly string[]): CgwatchRun {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-run-"));
  const text = [
    ...(yaml.some((l) => l.startsWith("metrics:")) ? [] : ["metrics: { listen: 127.0.0.1:0 }"]),
    ...yaml,
    "",
  ].join("\n");
  fs.writeFileSync(path.join(dir, "cgwatch.yaml"), text);
  const child = spawn(process.execPath, [CLI, "run", "--config", path.join(dir, "cgwatch.yaml")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return {
    child,
    out: () => out,
    lines: () => logLines(out),
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await waitExit(child);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
