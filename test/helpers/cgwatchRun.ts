/**
 * `cgwatch run` as an operator runs it: the compiled CLI as a child process
 * with a config file, observed only from outside — its JSON log lines, a
 * real scrape of /metrics, `cgwatch status --json`. The config is the
 * SHIPPED config/cgwatch.yaml with only the watch list and the metrics
 * address replaced (so default policies, params, guardrails and intervals
 * are exactly what users get), plus any top-level keys a test overrides.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { waitExit } from "./realCgroup.js";

/** The repository (this file also runs compiled, from dist/test/helpers, for `npm run bench`). */
function repoRoot(): string {
  for (let d = import.meta.dirname; d !== "/"; d = path.dirname(d))
    if (fs.existsSync(path.join(d, "package.json")) && fs.existsSync(path.join(d, "config/cgwatch.yaml"))) return d;
  throw new Error(`no repository above ${import.meta.dirname}`);
}
export const ROOT = repoRoot();
export const CLI = path.join(ROOT, "dist/src/cli.js");

/** Compiles dist/ unless fresh, one test file at a time (shared with the CLI tests). */
export { buildDist } from "./cliRun.js";

export type LogLine = Record<string, unknown> & { readonly msg?: string; readonly time?: number };

export interface CgwatchOptions {
  /** Watch globs (each relative to every hierarchy root). */
  readonly watch: readonly string[];
  /** Top-level YAML keys replacing the shipped ones, e.g. { pollInterval: "1s" } (values are JSON, valid YAML). */
  readonly override?: Readonly<Record<string, unknown>>;
}

export interface Cgwatch {
  readonly config: string;
  /** host:port of its /metrics (a Prometheus scrape target). */
  readonly target: string;
  /** Every JSON log line so far. */
  lines(): LogLine[];
  /** Waits for a log line matching pred (polls every 20 ms). */
  waitLine(pred: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** GET /metrics. */
  scrape(): Promise<string>;
  /** `cgwatch status --json` with this config. */
  status(): unknown;
  /** SIGTERM and wait; rejects if the exit code is not 0. */
  stop(): Promise<void>;
  /** stderr so far (empty on a healthy run). */
  stderr(): string;
}

/** The shipped config with `watch` and `metrics.listen` replaced and `override` keys swapped in. */
export function shippedConfigFor(opts: CgwatchOptions): string {
  let text = fs.readFileSync(path.join(ROOT, "config/cgwatch.yaml"), "utf8");
  const watch = `watch:\n${opts.watch.map((w) => `  - ${JSON.stringify(w)}`).join("\n")}\n`;
  text = replaceTopLevel(text, "watch", watch);
  text = text.replace(/^(\s+listen:).*$/m, "$1 127.0.0.1:0");
  for (const [k, v] of Object.entries(opts.override ?? {}))
    text = replaceTopLevel(text, k, `${k}: ${JSON.stringify(v)}\n`);
  return text;
}

/** Replaces a top-level key's block (the key line and its indented/blank lines) or appends it. */
function replaceTopLevel(text: string, key: string, block: string): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`${key}:`));
  if (start < 0) return `${text.trimEnd()}\n${block}`;
  let end = start + 1;
  while (
    end < lines.length &&
    (/^\s/.test(lines[end] ?? "") || (lines[end] ?? "") === "") &&
    !/^\S/.test(lines[end] ?? "")
  )
    end++;
  // Keep trailing blank/comment lines that belong to the next key.
  while (end > start + 1 && /^\s*(#.*)?$/.test(lines[end - 1] ?? "")) end--;
  return [...lines.slice(0, start), block.trimEnd(), ...lines.slice(end)].join("\n");
}

export async function startCgwatch(opts: CgwatchOptions): Promise<Cgwatch> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-ct-run-"));
  const config = path.join(dir, "cgwatch.yaml");
  fs.writeFileSync(config, shippedConfigFor(opts));
  const child: ChildProcess = spawn(process.execPath, [CLI, "run", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let parsed: LogLine[] = [];
  let parsedUpTo = 0;
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const lines = (): LogLine[] => {
    const end = out.lastIndexOf("\n") + 1;
    if (end > parsedUpTo) {
      for (const l of out.slice(parsedUpTo, end).split("\n"))
        if (l.startsWith("{")) parsed.push(JSON.parse(l) as LogLine);
      parsedUpTo = end;
    }
    return parsed;
  };
  const waitLine = async (pred: (l: LogLine) => boolean, what: string, timeoutMs = 30_000): Promise<LogLine> => {
    const t0 = Date.now();
    for (;;) {
      const hit = lines().find(pred);
      if (hit !== undefined) return hit;
      if (child.exitCode !== null) throw new Error(`cgwatch exited (${child.exitCode}) before ${what}: ${err}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await waitExit(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const listening = await waitLine((l) => l.msg === "metrics listening", "metrics listening");
    const url = String(listening["url"]);
    await waitLine((l) => l.msg === "ready: first scan complete", "ready");
    return {
      config,
      target: new URL(url).host,
      lines,
      waitLine,
      scrape: async () => {
        const res = await fetch(url.endsWith("/metrics") ? url : `${url.replace(/\/$/, "")}/metrics`);
        if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
        return res.text();
      },
      status: () => {
        const r = spawnSync(process.execPath, [CLI, "status", "--json", "--config", config], {
          encoding: "utf8",
          timeout: 30_000,
        });
        if (r.status !== 0) throw new Error(`cgwatch status failed (${r.status}): ${r.stderr}`);
        return JSON.parse(r.stdout) as unknown;
      },
      stderr: () => err,
      stop: async () => {
        if (child.exitCode === null) child.kill("SIGTERM");
        const exit = await Promise.race([waitExit(child), new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
        await kill();
        if (exit === null || exit.code !== 0)
          throw new Error(`cgwatch did not stop cleanly: ${JSON.stringify(exit)} ${err}`);
      },
    };
  } catch (e) {
    parsed = [];
    await kill();
    throw e;
  }
}

/**
 * One sample from a Prometheus text exposition: the value of `name` whose
 * labels include every label given; undefined when there is no such series.
 */
export function sample(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const lm of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      have.set(lm[1] ?? "", (lm[2] ?? "").replace(/\\(.)/g, "$1"));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}
