/**
 * `cgwatch` as an operator runs it: `node dist/src/cli.js ...` as a child
 * process, its JSON log lines parsed as they arrive, /metrics scraped over
 * real HTTP. Tests that use it build dist/ first (`buildDist`).
 */
import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import path from "node:path";
import type { Readable } from "node:stream";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI = path.join(ROOT, "dist/src/cli.js");

/**
 * Compiles dist/ unless fresh, one test file at a time: the one locked
 * helper (cliRun.ts), so no file's tsc rewrites dist/ while another file's
 * CLI child is loading it.
 */
export { buildDist } from "./cliRun.js";

export async function waitFor(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const t = Date.now();
  while (!pred()) {
    if (Date.now() - t > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface RunningCli {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  stdout(): string;
  stderr(): string;
  /** stdout's JSON lines, parsed. */
  logs(): Record<string, unknown>[];
  /** Waits for a log line matching `pred` and returns it. */
  waitLog(
    pred: (l: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** GET /metrics of the instance (its URL from the "metrics listening" line). */
  scrape(): Promise<string>;
  /** SIGTERM, then the exit code (SIGKILL after 15 s). */
  stop(): Promise<number | null>;
}

export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** `prefix` runs the CLI under a wrapper (e.g. setpriv to drop a capability). */
export function startCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  prefix: readonly string[] = [],
): RunningCli {
  const argv = [...prefix, process.execPath, CLI, ...args];
  const child = spawn(argv[0] ?? process.execPath, argv.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const self: RunningCli = {
    child,
    stdout: () => out,
    stderr: () => err,
    logs: () => jsonLines(out),
    async waitLog(pred, what, timeoutMs) {
      let found: Record<string, unknown> | undefined;
      await waitFor(
        () => {
          if (child.exitCode !== null || child.signalCode !== null)
            throw new Error(
              `cgwatch exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}:\n${out}\n${err}`,
            );
          found = jsonLines(out).find(pred);
          return found !== undefined;
        },
        what,
        timeoutMs,
      );
      return found as Record<string, unknown>;
    },
    async scrape() {
      const line = await self.waitLog((l) => l["msg"] === "metrics listening", "metrics listening");
      const res = await fetch(`${String(line["url"])}/metrics`);
      return res.text();
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
        const code = await exited;
        clearTimeout(t);
        return code;
      }
      return child.exitCode;
    },
  };
  return self;
}

/** Runs the CLI to completion. */
export function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The value of one series in exposition text, or undefined when absent. */
export function sample(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^([^{ ]+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}
