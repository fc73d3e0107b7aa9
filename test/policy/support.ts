/** Shared bits for policy-engine tests: temp policy dirs, a silent logger that records, sample events/snapshots. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino, type Logger } from "pino";
import type { CgroupSnapshot } from "../../src/cgroup/snapshot.js";
import type { WatchdogEvent } from "../../src/events/types.js";

export function policyDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-policy-"));
  for (const [name, src] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), src);
  return dir;
}

export interface RecordingLogger {
  readonly logger: Logger;
  readonly lines: Array<Record<string, unknown>>;
}

/** A pino logger writing JSON lines into an array (synchronously), so tests can assert on log records. */
export function recordingLogger(): RecordingLogger {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: "trace" },
    {
      write(chunk: string) {
        lines.push(JSON.parse(chunk) as Record<string, unknown>);
      },
    },
  );
  return { logger, lines };
}

export function snapshot(pathName: string, overrides: Partial<CgroupSnapshot> = {}): CgroupSnapshot {
  return { path: pathName, labels: {}, memory: null, cpu: null, pids: null, ...overrides };
}

export function sample(cgroup: string, at = 1000): WatchdogEvent {
  return { kind: "sample", cgroup, at, source: "poll" };
}

/** A policy source from a body for onEvent, listening to `sample` on every cgroup. */
export function policy(name: string, body: string, extraMeta = ""): string {
  return `export const meta = { name: ${JSON.stringify(name)}, on: ["sample"], match: ["**"]${extraMeta} };
export function onEvent(event, cgroup, ctx) {
${body}
}
`;
}
