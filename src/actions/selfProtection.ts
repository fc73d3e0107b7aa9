/**
 * cgwatch protects itself: at startup it sets its own oom_score_adj (the
 * OOM killer then picks anything else first; -1000 = never) and it never
 * acts on its own cgroups or their ancestors (see guardrails.ts). These are
 * the helpers main.ts calls to set that up from /proc.
 */
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { v1LayoutAt } from "../cgroup/layout.js";
import { parseProcCgroup } from "../cgroup/paths.js";
import { createGuardedWriter, type GuardedWriter } from "../cgroup/writer.js";
import { readFile } from "./apply.js";
import type { ActionOutcome } from "./types.js";

export interface ProtectSelfOptions {
  /** "/proc" in production. */
  readonly procRoot: string;
  /** -1000..1000; default -1000 (never OOM-killed). */
  readonly value?: number;
  /** Defaults to a guarded writer over procRoot (only its oom_score_adj target is used). */
  readonly writer?: GuardedWriter;
  /** Defaults to process.pid. */
  readonly pid?: number;
  readonly logger?: Logger;
}

/** Writes cgwatch's own oom_score_adj through the guarded writer; returns (and logs) the outcome, never throws. */
export function protectSelf(opts: ProtectSelfOptions): ActionOutcome {
  const value = opts.value ?? -1000;
  const pid = opts.pid ?? process.pid;
  const outcome = ((): ActionOutcome => {
    if (!Number.isSafeInteger(value) || value < -1000 || value > 1000) {
      return {
        kind: "rejected",
        guardrail: "invalid_action",
        reason: `oom_score_adj must be an integer in [-1000, 1000], got ${value}`,
      };
    }
    const writer =
      opts.writer ??
      createGuardedWriter(v1LayoutAt(path.join(opts.procRoot, "nonexistent-cgroupfs"), []), opts.procRoot);
    const file = path.join(opts.procRoot, String(pid), "oom_score_adj");
    const before = readFile(file);
    const w = writer.write({ kind: "oom_score_adj", pid }, String(value));
    const beforeText = before.kind === "ok" ? before.text.trim() : null;
    if (w.kind === "failed") {
      // Lowering oom_score_adj (below the value the process had) is a capability, not a uid, check.
      const hint =
        (w.errno === "EACCES" || w.errno === "EPERM") && (beforeText === null || value < Number(beforeText))
          ? "; lowering oom_score_adj needs CAP_SYS_RESOURCE (grant it in the unit: AmbientCapabilities=CAP_SYS_RESOURCE, or set OOMScoreAdjust=)"
          : "";
      return { kind: "failed", errno: w.errno, reason: `${w.reason}${hint}`, before: beforeText };
    }
    const after = readFile(file);
    const afterText = after.kind === "ok" ? after.text.trim() : null;
    return afterText === String(value)
      ? { kind: "applied", before: beforeText, after: afterText }
      : { kind: "applied", before: beforeText, after: afterText, wrote: String(value), readBackDiffers: true };
  })();
  try {
    const o = outcome;
    const line = {
      event: "startup",
      cgroup: null,
      policy: "self-protection",
      action: "set_oom_score_adj",
      pid,
      before: "before" in o ? (o.before ?? null) : null,
      after: o.kind === "applied" ? o.after : null,
      outcome: o.kind,
      ...(o.kind === "failed" || o.kind === "rejected" ? { reason: o.reason } : {}),
      ...(o.kind === "failed" ? { errno: o.errno } : {}),
    };
    if (o.kind === "applied") opts.logger?.info(line, "action decision");
    else opts.logger?.error(line, "action decision");
  } catch {
    /* logging must not turn startup protection into a crash */
  }
  return outcome;
}

/** cgwatch's own cgroup in every hierarchy, from /proc/self/cgroup text (the executor protects them and their ancestors). */
export function ownCgroupsFromProcSelf(text: string): string[] {
  const { v1, v2 } = parseProcCgroup(text);
  const all = new Set<string>(v1.values());
  if (v2 !== null) all.add(v2);
  return [...all];
}

/** Reads /proc/self/cgroup under procRoot; an unreadable file protects the root only (fail safe, never fail open silently). */
export function readOwnCgroups(procRoot: string): string[] {
  try {
    return ownCgroupsFromProcSelf(fs.readFileSync(path.join(procRoot, "self", "cgroup"), "utf8"));
  } catch {
    return [""];
  }
}

/** MemTotal in bytes from /proc/meminfo text, or null. */
export function parseMemTotal(meminfo: string): number | null {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(meminfo);
  return m === null || m[1] === undefined ? null : Number(m[1]) * 1024;
}
