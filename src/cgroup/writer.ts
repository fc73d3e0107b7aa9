/**
 * The ONE function in cgwatch that changes the system. Everything that
 * writes a cgroup knob or an oom_score_adj goes through `GuardedWriter.write`,
 * which:
 *  - accepts only allow-listed file names (a policy bug cannot write
 *    `cgroup.procs` or `release_agent`),
 *  - joins the cgroup path under the injected root and opens it beneath
 *    that root only (safeOpen.ts): no symlink at any component, O_NOFOLLOW,
 *    a regular file by fstat, and the opened fd's real path under the
 *    root's, so no policy output or tree shape can write outside the root
 *    (a FIFO cannot block it either: the open is non-blocking),
 *  - never throws for kernel refusals: EINVAL/EBUSY/EPERM/ENOENT come back
 *    as a `failed` result with the errno, the file and the value.
 */
import fs from "node:fs";
import path from "node:path";
import { CgroupPathError, cgroupDir, normaliseCgroupPath } from "./paths.js";
import type { CgroupLayout, Controller } from "./layout.js";
import { errnoOf } from "./errno.js";
import { openBeneathForWrite, type UnsafeReason } from "./safeOpen.js";
import { ACTION_REGISTRY, type WriteAllowList } from "../actions/kinds/index.js";

/**
 * Control files cgwatch may write, by controller: exactly the files the
 * registered action kinds declare (actions/kinds/). Anything else is refused.
 */
export const WRITABLE_FILES: Readonly<Record<Controller, readonly string[]>> = ACTION_REGISTRY.writable.byController;

/**
 * v2 core files (`cgroup.freeze`, `cgroup.kill`) live in every cgroup of the
 * unified hierarchy whatever controllers are enabled, and no v2 host lists
 * "freezer" in cgroup.controllers, so they cannot be located through a
 * controller: they have their own target, resolved under the v2 root.
 */
export const V2_CORE_WRITABLE_FILES: readonly string[] = ACTION_REGISTRY.writable.v2Core;

export type WriteTarget =
  | { readonly kind: "cgroup_file"; readonly cgroup: string; readonly controller: Controller; readonly file: string }
  | { readonly kind: "v2_core_file"; readonly cgroup: string; readonly file: string }
  | { readonly kind: "oom_score_adj"; readonly pid: number };

/** Signals cgwatch may send (v1 `kill` action: SIGKILL every pid of a cgroup). */
export type GuardedSignal = "SIGKILL";

export type WriteResult =
  | { readonly kind: "written"; readonly path: string }
  | {
      readonly kind: "failed";
      readonly path: string | null;
      readonly errno: string;
      readonly reason: string;
      /** Set when the tree itself was refused (errno EREFUSED): what was found where a regular file or directory belongs. */
      readonly unsafe?: UnsafeReason;
    };

/** Observers of refused writes (the problem log: once when it starts, once when it clears). */
export interface WriterHooks {
  onUnsafe?(path: string, reason: UnsafeReason, message: string): void;
  onWritten?(path: string): void;
}

export interface GuardedWriter {
  write(target: WriteTarget, value: string): WriteResult;
  /**
   * Sends a signal to one pid: the only other way cgwatch changes the system
   * (v1 has no cgroup.kill). Refuses pid <= 1 and cgwatch's own pid; ESRCH
   * (already exited) comes back as a failed result for the caller to judge.
   */
  signal(pid: number, signal: GuardedSignal): WriteResult;
  /** Absolute path a target resolves to, or an explanation why it is refused. Exposed for logs and dry-run. */
  resolve(target: WriteTarget): { kind: "ok"; path: string; root: string } | { kind: "refused"; reason: string };
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

type Resolved = ReturnType<GuardedWriter["resolve"]>;

/** `allow`: the registered action kinds' files; a test registering an extra kind passes its registry's list. */
export function createGuardedWriter(
  layout: CgroupLayout,
  procRoot: string,
  hooks: WriterHooks = {},
  allow: WriteAllowList = ACTION_REGISTRY.writable,
): GuardedWriter {
  const resolve: GuardedWriter["resolve"] = (target) => resolveTarget(layout, procRoot, allow, target);
  return {
    resolve,
    write: (target, value) => writeResolved(resolve(target), value, hooks),
    signal: signalPid,
  };
}

function resolveTarget(layout: CgroupLayout, procRoot: string, allow: WriteAllowList, target: WriteTarget): Resolved {
  switch (target.kind) {
    case "oom_score_adj": {
      if (!Number.isSafeInteger(target.pid) || target.pid <= 0)
        return { kind: "refused", reason: `invalid pid ${target.pid}` };
      return { kind: "ok", path: path.join(procRoot, String(target.pid), "oom_score_adj"), root: procRoot };
    }
    case "v2_core_file":
      return resolveV2CoreFile(layout, allow, target);
    case "cgroup_file":
      return resolveCgroupFile(layout, allow, target);
  }
}

function resolveV2CoreFile(
  layout: CgroupLayout,
  allow: WriteAllowList,
  target: Extract<WriteTarget, { kind: "v2_core_file" }>,
): Resolved {
  if (!allow.v2Core.includes(target.file))
    return { kind: "refused", reason: `file ${target.file} is not a writable cgroup v2 core file` };
  if (layout.v2Root === null) return { kind: "refused", reason: "no cgroup v2 hierarchy is mounted" };
  let rel;
  try {
    rel = normaliseCgroupPath(target.cgroup);
  } catch (err) {
    if (err instanceof CgroupPathError) return { kind: "refused", reason: err.message };
    throw err;
  }
  return insideOrRefused(path.join(layout.v2Root, rel, target.file), layout.v2Root);
}

function resolveCgroupFile(
  layout: CgroupLayout,
  allow: WriteAllowList,
  target: Extract<WriteTarget, { kind: "cgroup_file" }>,
): Resolved {
  if (!allow.byController[target.controller].includes(target.file)) {
    return { kind: "refused", reason: `file ${target.file} is not writable for controller ${target.controller}` };
  }
  let located;
  try {
    located = cgroupDir(layout, target.cgroup, target.controller);
  } catch (err) {
    if (err instanceof CgroupPathError) return { kind: "refused", reason: err.message };
    throw err;
  }
  if (located === null) return { kind: "refused", reason: `no hierarchy carries controller ${target.controller}` };
  return insideOrRefused(path.join(located.dir, target.file), located.location.root);
}

function insideOrRefused(full: string, root: string): Resolved {
  if (!isInside(full, root)) return { kind: "refused", reason: `${full} is outside ${root}` };
  return { kind: "ok", path: full, root };
}

function writeResolved(r: Resolved, value: string, hooks: WriterHooks): WriteResult {
  if (r.kind === "refused") return { kind: "failed", path: null, errno: "EREFUSED", reason: r.reason };
  // resolveTarget() normalised the cgroup path, so the relative path splits into plain names.
  const opened = openBeneathForWrite(r.root, path.relative(r.root, r.path).split("/"));
  if (opened.kind === "unsafe") {
    hooks.onUnsafe?.(r.path, opened.reason, opened.message);
    return {
      kind: "failed",
      path: r.path,
      errno: "EREFUSED",
      reason: `refused to write ${r.path}: ${opened.message}`,
      unsafe: opened.reason,
    };
  }
  if (opened.kind === "error") return writeFailure(r.path, value, opened.errno);
  try {
    // Truncate only now that the file is known to be the right one (not
    // O_TRUNC at open). kernfs files report size 0 and ignore truncation;
    // on a fake tree it stops a shorter value leaving the old one's tail.
    if (opened.size > 0) fs.ftruncateSync(opened.fd, 0);
    fs.writeSync(opened.fd, value);
    hooks.onWritten?.(r.path);
    return { kind: "written", path: r.path };
  } catch (err) {
    return writeFailure(r.path, value, errnoOf(err));
  } finally {
    fs.closeSync(opened.fd);
  }
}

function writeFailure(where: string, value: string, errno: string): WriteResult {
  return {
    kind: "failed",
    path: where,
    errno,
    reason: `write ${JSON.stringify(value)} to ${where}: ${errno}${describeErrno(errno)}`,
  };
}

function signalPid(pid: number, sig: GuardedSignal): WriteResult {
  const where = `pid ${pid}`;
  if (!Number.isSafeInteger(pid) || pid <= 1)
    return { kind: "failed", path: null, errno: "EREFUSED", reason: `refusing to signal ${where}` };
  if (pid === process.pid)
    return { kind: "failed", path: null, errno: "EREFUSED", reason: `refusing to signal cgwatch itself (${where})` };
  try {
    process.kill(pid, sig);
    return { kind: "written", path: where };
  } catch (err) {
    const errno = errnoOf(err);
    return { kind: "failed", path: where, errno, reason: `${sig} to ${where}: ${errno}${describeErrno(errno)}` };
  }
}

/** What the kernel means by the errnos cgroup writes return, for operators reading the log. */
export function describeErrno(errno: string): string {
  switch (errno) {
    case "EINVAL":
      return " (the kernel rejected the value: out of range, or below current usage / memsw ordering)";
    case "EBUSY":
      return " (the kernel could not apply it now: usage above the new limit could not be reclaimed)";
    case "EPERM":
    case "EACCES":
      // As root the cause is a missing capability, a read-only mount or an LSM, never "not root".
      return process.getuid?.() === 0
        ? " (permission denied although running as root: a missing capability, a read-only mount, or a security module)"
        : " (permission denied: not root, or the file is read-only)";
    case "ENOENT":
    case "ENODEV":
    case "ESRCH":
      return " (the cgroup or process no longer exists)";
    default:
      return "";
  }
}
