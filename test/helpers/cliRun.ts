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

/** Compiles dist/ once per test file (call from beforeAll, 120 s timeout). */
export function buildDist(): void {
  const r = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tsc failed:\n${r.stdout}\n${r.stderr}`);
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
  const text = [...(yaml.some((l) => l.startsWith("metrics:")) ? [] : ["metrics: { listen: 127.0.0.1:0 }"]), ...yaml, ""].join("\n");
  fs.writeFileSync(path.join(dir, "cgwatch.yaml"), text);
  const child = spawn(process.execPath, [CLI, "run", "--config", path.join(dir, "cgwatch.yaml")], { stdio: ["ignore", "pipe", "pipe"] });
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
