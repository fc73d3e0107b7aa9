/** Shared test fixtures for actions: fake clock, captured pino lines, recording writer, permissive guardrails. */
import fs from "node:fs";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import type { GuardedWriter, WriteResult, WriteTarget } from "../../src/cgroup/writer.js";
import { DEFAULT_GUARDRAILS, type GuardrailConfig } from "../../src/actions/guardrailConfig.js";
import type { ActionProposal, Action } from "../../src/actions/types.js";

export interface FakeClock {
  now(): number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function fakeClock(start = 1_000_000): FakeClock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: Record<string, unknown>[];
  /** Raw JSON text of each line, as pino wrote it. */
  readonly raw: string[];
}

export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString("utf8").split("\n")) {
        if (l.trim() === "") continue;
        raw.push(l);
        // CGWATCH_DECISIONS=<file> keeps every decision line of a run (for the closing note).
        const keep = process.env["CGWATCH_DECISIONS"];
        if (keep !== undefined && keep !== "") fs.appendFileSync(keep, `${l}\n`);
        lines.push(JSON.parse(l) as Record<string, unknown>);
      }
      cb();
    },
  });
  // pino writes synchronously to a plain Writable, so lines are there when execute() returns.
  return { logger: pino({ level: "debug" }, stream), lines, raw };
}

export interface RecordedWrite {
  readonly target: WriteTarget;
  readonly value: string;
  readonly result: WriteResult;
}

/** Wraps a writer and records every write and signal in order (and optionally runs something before each). */
export function recordingWriter(
  inner: GuardedWriter,
  opts: {
    before?: (target: WriteTarget, value: string) => void;
    after?: (target: WriteTarget, value: string, result: WriteResult) => void;
    fakeSignals?: boolean;
  } = {},
): { writer: GuardedWriter; writes: RecordedWrite[]; signals: number[] } {
  const writes: RecordedWrite[] = [];
  const signals: number[] = [];
  const writer: GuardedWriter = {
    resolve: (t) => inner.resolve(t),
    write(target, value) {
      opts.before?.(target, value);
      const result = inner.write(target, value);
      opts.after?.(target, value, result);
      writes.push({ target, value, result });
      return result;
    },
    signal(pid, sig) {
      signals.push(pid);
      // Fake trees list made-up pids: never signal those for real.
      return opts.fakeSignals === true ? { kind: "written", path: `pid ${pid}` } : inner.signal(pid, sig);
    },
  };
  return { writer, writes, signals };
}

/** Guardrails that let everything through: tests switch on the one they exercise. */
export const OPEN_GUARDRAILS: GuardrailConfig = {
  ...DEFAULT_GUARDRAILS,
  memory: {
    ceilingFractionOfHost: null,
    ceilingBytes: null,
    floorBytes: null,
    maxStepFraction: null,
    maxStepBytes: null,
  },
  cpu: { minCores: null, maxCores: null, maxStepFactor: null },
  cooldownMs: 0,
  rateLimit: null,
};

export function proposal(cgroup: string, action: Action, policy = "test-policy"): ActionProposal {
  return { policy, cgroup, action, cause: { kind: "under_oom", at: 0 } };
}

export const MiB = 1024 * 1024;
