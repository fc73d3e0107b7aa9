/**
 * The I/O edge of actions: read the files a plan needs, run its steps
 * through the guarded writer, read back. Nothing here decides anything;
 * nothing here throws (every fs error becomes a value).
 */
import fs from "node:fs";
import path from "node:path";
import type { CgroupLayout, Controller } from "../cgroup/layout.js";
import { cgroupDir, normaliseCgroupPath } from "../cgroup/paths.js";
import { isDirBeneath } from "../cgroup/safeOpen.js";
import type { GuardedWriter, WriteTarget } from "../cgroup/writer.js";
import { confirms, type FileAddr, type Step } from "./plan.js";
import { readFileAt as readFile, type FileRead } from "../cgroup/cgroupFiles.js";

/** Control files are read through the one reader (cgroup/cgroupFiles.ts): never blocks, regular files only. */
export { readFileAt as readFile } from "../cgroup/cgroupFiles.js";
export type { FileRead };

/** Absolute directory of the cgroup for a file address, or null if no hierarchy carries it. */
export function dirFor(layout: CgroupLayout, cgroup: string, scope: FileAddr["scope"]): string | null {
  if (scope === "v2_core") return layout.v2Root === null ? null : path.join(layout.v2Root, cgroup);
  return cgroupDir(layout, cgroup, scope)?.dir ?? null;
}

export function targetFor(cgroup: string, at: FileAddr): WriteTarget {
  return at.scope === "v2_core"
    ? { kind: "v2_core_file", cgroup, file: at.file }
    : { kind: "cgroup_file", cgroup, controller: at.scope, file: at.file };
}

export function dirExists(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** Where to find a cgroup's processes: the first hierarchy (in this order) that has the cgroup. v2: the unified one. */
const PROCS_ORDER: readonly Controller[] = ["memory", "cpu", "pids", "freezer", "cpuset", "blkio"];

/** The cgroup's directory under `root`, if it is a real directory reached through no symlink (isDirBeneath). */
function realCgroupDir(root: string, cgroup: string): string | null {
  const rel = normaliseCgroupPath(cgroup);
  const components = rel === "" ? [] : rel.split("/");
  return isDirBeneath(root, components) ? path.join(root, ...components) : null;
}

export function procsDir(layout: CgroupLayout, cgroup: string): string | null {
  for (const c of PROCS_ORDER) {
    const located = cgroupDir(layout, cgroup, c);
    if (located === null) continue;
    const dir = realCgroupDir(located.location.root, cgroup);
    if (dir !== null) return dir;
  }
  return layout.v2Root === null ? null : realCgroupDir(layout.v2Root, cgroup);
}

export function listPids(dir: string): { kind: "ok"; pids: number[] } | { kind: "error"; errno: string } {
  const r = readFile(path.join(dir, "cgroup.procs"));
  if (r.kind === "absent") return { kind: "error", errno: "ENOENT" };
  if (r.kind === "error") return r;
  const pids = r.text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
  return { kind: "ok", pids };
}

/** Outcome of running a plan's steps. */
export type StepsResult =
  | {
      readonly kind: "done";
      readonly before: string | null;
      readonly after: string | null;
      readonly wrote: string | null;
      readonly readBackDiffers: boolean;
      readonly note?: string;
    }
  | {
      readonly kind: "failed";
      readonly errno: string;
      readonly reason: string;
      readonly completed: readonly string[];
      readonly before?: string | null;
    };

/** pids that vanished between listing and writing are not failures. */
const EXITED = new Set(["ENOENT", "ESRCH"]);

function summarise(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([v, n]) => (counts.size === 1 ? v : `${v}×${n}`)).join(",");
}

function listFailure(dir: string, errno: string): StepsResult {
  return { kind: "failed", errno, reason: `cannot list ${path.join(dir, "cgroup.procs")}: ${errno}`, completed: [] };
}

/** oom_score_adj for every pid in the cgroup. */
function applyOomScoreAdj(writer: GuardedWriter, procRoot: string, dir: string, value: number): StepsResult {
  const listed = listPids(dir);
  if (listed.kind === "error") return listFailure(dir, listed.errno);
  const before: string[] = [];
  const after: string[] = [];
  const completed: string[] = [];
  let exited = 0;
  for (const pid of listed.pids) {
    const file = path.join(procRoot, String(pid), "oom_score_adj");
    const b = readFile(file);
    const w = writer.write({ kind: "oom_score_adj", pid }, String(value));
    if (w.kind === "failed") {
      if (EXITED.has(w.errno)) {
        exited++;
        continue;
      }
      return { kind: "failed", errno: w.errno, reason: w.reason, completed, before: summarise(before) };
    }
    completed.push(`pid ${pid}`);
    if (b.kind === "ok") before.push(b.text.trim());
    const a = readFile(file);
    if (a.kind === "ok") after.push(a.text.trim());
    else exited++; // exited right after the write
  }
  const readBackDiffers = after.some((v) => v !== String(value));
  const note = `${completed.length} of ${listed.pids.length} pids set${exited > 0 ? `, ${exited} exited meanwhile` : ""}`;
  return {
    kind: "done",
    before: before.length > 0 ? summarise(before) : null,
    after: after.length > 0 ? summarise(after) : null,
    wrote: String(value),
    readBackDiffers,
    note,
  };
}

/** v1 has no cgroup.kill: SIGKILL each pid. A process forked meanwhile escapes this pass; the note says how many were signalled. */
function applySignalAll(writer: GuardedWriter, dir: string): StepsResult {
  const listed = listPids(dir);
  if (listed.kind === "error") return listFailure(dir, listed.errno);
  const completed: string[] = [];
  let exited = 0;
  for (const pid of listed.pids) {
    const r = writer.signal(pid, "SIGKILL");
    if (r.kind === "failed") {
      if (EXITED.has(r.errno)) {
        exited++;
        continue;
      }
      return { kind: "failed", errno: r.errno, reason: r.reason, completed };
    }
    completed.push(`pid ${pid}`);
  }
  return {
    kind: "done",
    before: `${listed.pids.length} pids`,
    after: `${completed.length} pids signalled${exited > 0 ? `, ${exited} already gone` : ""}`,
    wrote: "SIGKILL",
    readBackDiffers: false,
  };
}

export interface ApplyContext {
  readonly layout: CgroupLayout;
  readonly writer: GuardedWriter;
  readonly procRoot: string;
  readonly cgroup: string;
  /** Current contents of the files read before planning, by file name. */
  readonly current: ReadonlyMap<string, string | null>;
  /** How a written file is read back (default: one-shot readFile). */
  readonly read?: (path: string) => FileRead;
}

/** "file=value" list of the writes of a plan (for dry-run and the log). */
export function describeWrites(steps: readonly Step[]): string | null {
  const parts = steps.flatMap((s): string[] => {
    switch (s.kind) {
      case "write":
        return [`${s.at.file}=${s.value}`];
      case "oom_score_adj_all":
        return [`oom_score_adj=${s.value} for every pid`];
      case "signal_all":
        return [`${s.signal} to every pid`];
      case "record":
        return [];
    }
  });
  return parts.length === 0 ? null : parts.join("; ");
}

/** Values of the files a plan writes, as they are now: a single value alone, several as "file=value; ...". */
export function describeValues(files: readonly string[], values: ReadonlyMap<string, string | null>): string | null {
  if (files.length === 0) return null;
  const v = (f: string): string => values.get(f)?.trim().replace(/\n/g, " | ") ?? "absent";
  if (files.length === 1) return v(files[0] ?? "");
  return files.map((f) => `${f}=${v(f)}`).join("; ");
}

/** The files the steps write, each once, in first-write order (plans have one or two steps: a list beats a Set). */
function writtenFiles(steps: readonly Step[]): string[] {
  const files: string[] = [];
  for (const s of steps) if (s.kind === "write" && !files.includes(s.at.file)) files.push(s.at.file);
  return files;
}

export function beforeOf(steps: readonly Step[], current: ReadonlyMap<string, string | null>): string | null {
  return describeValues(writtenFiles(steps), current);
}

/** Runs the steps in order; stops at the first refused write. */
export function applySteps(steps: readonly Step[], ctx: ApplyContext): StepsResult {
  const completed: string[] = [];
  const readBack = new Map<string, string | null>();
  let differs = false;
  for (const step of steps) {
    switch (step.kind) {
      case "record":
        break;
      case "oom_score_adj_all":
      case "signal_all": {
        const dir = procsDir(ctx.layout, ctx.cgroup);
        if (dir === null)
          return {
            kind: "failed",
            errno: "ENOENT",
            reason: `cgroup ${ctx.cgroup} no longer exists in any hierarchy`,
            completed,
          };
        return step.kind === "oom_score_adj_all"
          ? applyOomScoreAdj(ctx.writer, ctx.procRoot, dir, step.value)
          : applySignalAll(ctx.writer, dir);
      }
      case "write": {
        const r = ctx.writer.write(targetFor(ctx.cgroup, step.at), step.value);
        if (r.kind === "failed") {
          const after = completed.length > 0 ? ` (already written: ${completed.join("; ")})` : "";
          return {
            kind: "failed",
            errno: r.errno,
            reason: `${r.reason}${after}`,
            completed,
            before: beforeOf(steps, ctx.current),
          };
        }
        completed.push(`${step.at.file}=${step.value}`);
        const back = (ctx.read ?? readFile)(r.path);
        const text = back.kind === "ok" ? back.text : null;
        readBack.set(step.at.file, text);
        if (step.verify.kind !== "none" && (text === null || !confirms(step.verify, step.value, text))) differs = true;
        break;
      }
    }
  }
  const files = writtenFiles(steps);
  return {
    kind: "done",
    before: describeValues(files, ctx.current),
    // Write-only files (cgroup.kill) read back as nothing: report what was written.
    after: files.length === 0 ? null : describeValues(files, new Map(files.map((f) => [f, readBack.get(f) ?? null]))),
    wrote: describeWrites(steps),
    readBackDiffers: differs,
  };
}
