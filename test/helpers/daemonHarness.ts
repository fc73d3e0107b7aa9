/**
 * Starts the real daemon in-process against a layout (fake tree or real
 * kernel) with a config written as YAML and loaded through the same
 * loadConfig path `cgwatch run` uses.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { Writable } from "node:stream";
import type { ActionOutcome, ActionProposal } from "../../src/actions/types.js";
import type { CgroupLayout } from "../../src/cgroup/layout.js";
import { loadConfig } from "../../src/config/load.js";
import { startDaemon, type Daemon } from "../../src/daemon.js";
import type { WatchdogEvent } from "../../src/events/types.js";
import { loadNative, type NativeLoad } from "../../src/native/index.js";

export interface Harness {
  readonly daemon: Daemon;
  readonly events: WatchdogEvent[];
  readonly actions: { proposal: ActionProposal; outcome: ActionOutcome }[];
  /** Every log line as parsed JSON. */
  readonly logs: Record<string, unknown>[];
  readonly dir: string;
  stop(): Promise<void>;
}

export async function startHarness(opts: {
  layout: CgroupLayout;
  yaml: string;
  policies?: Record<string, string>;
  native?: NativeLoad;
  serveMetrics?: boolean;
  procRoot?: string;
  ownCgroups?: string[];
}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-harness-"));
  const policyDir = path.join(dir, "policies");
  fs.mkdirSync(policyDir);
  for (const [name, src] of Object.entries(opts.policies ?? {})) fs.writeFileSync(path.join(policyDir, name), src);
  const configFile = path.join(dir, "cgwatch.yaml");
  fs.writeFileSync(configFile, opts.yaml.replaceAll("$POLICY_DIR", policyDir));
  const loaded = loadConfig({ path: configFile, env: {} });
  if (loaded.kind === "error") throw new Error(`harness config invalid: ${JSON.stringify(loaded.errors)}`);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line.trim() !== "") logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: "debug" }, sink);
  const events: WatchdogEvent[] = [];
  const actions: { proposal: ActionProposal; outcome: ActionOutcome }[] = [];
  const daemon = await startDaemon({
    config: loaded.config,
    logger,
    layout: opts.layout,
    procRoot: opts.procRoot ?? "/proc",
    native: opts.native ?? loadNative(),
    hostMemoryBytes: 24 * 1024 ** 3,
    ownCgroups: opts.ownCgroups ?? [],
    serveMetrics: opts.serveMetrics ?? false,
    persistent: false,
    protectSelf: false,
    onEvent: (e) => events.push(e),
    onAction: (proposal, outcome) => actions.push({ proposal, outcome }),
  });
  return {
    daemon,
    events,
    actions,
    logs,
    dir,
    async stop() {
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function until<T>(
  probe: () => T | undefined | null | false,
  timeoutMs = 20_000,
  what = "condition",
): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
