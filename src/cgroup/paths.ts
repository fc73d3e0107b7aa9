/**
 * cgroup path model. A cgroup is named by its path relative to the hierarchy
 * root ("docker/abc", "" for the root). Paths come from config globs, from
 * directory listings and from policies, so they are normalised and checked
 * here once: no "..", no absolute paths, no NUL, no empty segments.
 */
import path from "node:path";
import { locateController, type CgroupLayout, type Controller, type ControllerLocation } from "./layout.js";

export class CgroupPathError extends Error {
  override readonly name = "CgroupPathError";
}

/**
 * Whether `p` is already in normal form: no leading, trailing or doubled "/",
 * no "." or ".." segment, no NUL. One pass without allocating: the paths on
 * the event path are nearly always normal already.
 */
function isNormalCgroupPath(p: string): boolean {
  let segStart = 0;
  for (let i = 0; i <= p.length; i++) {
    const c = i === p.length ? 47 /* "/" */ : p.charCodeAt(i);
    if (c === 0) return false;
    if (c !== 47) continue;
    const len = i - segStart;
    if (p.length > 0 && len === 0) return false; // leading, trailing or doubled "/"
    if (len === 1 && p.charCodeAt(segStart) === 46) return false; // "."
    if (len === 2 && p.charCodeAt(segStart) === 46 && p.charCodeAt(segStart + 1) === 46) return false; // ".."
    segStart = i + 1;
  }
  return true;
}

/** Normalises "/docker//abc/" to "docker/abc"; throws on anything that could escape the root. */
export function normaliseCgroupPath(raw: string): string {
  if (isNormalCgroupPath(raw)) return raw;
  if (raw.includes("\0")) throw new CgroupPathError(`cgroup path contains NUL: ${JSON.stringify(raw)}`);
  const segments = raw.split("/").filter((s) => s !== "" && s !== ".");
  for (const s of segments) {
    if (s === "..") throw new CgroupPathError(`cgroup path must not contain "..": ${JSON.stringify(raw)}`);
  }
  return segments.join("/");
}

/** Absolute directory of a cgroup in the hierarchy that holds `controller`, or null if no hierarchy has it. */
export function cgroupDir(
  layout: CgroupLayout,
  cgroup: string,
  controller: Controller,
): { dir: string; location: ControllerLocation } | null {
  const location = locateController(layout, controller);
  if (location === null) return null;
  const rel = normaliseCgroupPath(cgroup);
  return { dir: rel === "" ? location.root : joinUnder(location.root, rel), location };
}

/** Hierarchy roots in path.join's normal form, without a trailing "/" (a handful of distinct roots per process). */
const normalRoots = new Map<string, string>();

/**
 * path.join(root, rel) for a normal `rel` (isNormalCgroupPath), as one
 * concatenation: path.join re-splits and re-normalises the whole path on
 * every call, several times per event.
 */
function joinUnder(root: string, rel: string): string {
  let base = normalRoots.get(root);
  if (base === undefined) {
    if (!path.isAbsolute(root) || normalRoots.size > 64) return path.join(root, rel);
    base = path.normalize(root).replace(/\/+$/, "");
    normalRoots.set(root, base);
  }
  return `${base}/${rel}`;
}

/** Parent of a cgroup path ("" for top-level cgroups, null for the root). */
export function parentCgroup(cgroup: string): string | null {
  if (cgroup === "") return null;
  const i = cgroup.lastIndexOf("/");
  return i < 0 ? "" : cgroup.slice(0, i);
}

/** The cgroup and all its ancestors up to the root, nearest first. */
export function selfAndAncestors(cgroup: string): string[] {
  const out: string[] = [];
  for (let c: string | null = normaliseCgroupPath(cgroup); c !== null; c = parentCgroup(c)) out.push(c);
  return out;
}

/**
 * The process's own cgroup per controller, from /proc/self/cgroup text
 * ("4:memory:/a/b", "0::/x" for v2). Used to protect cgwatch's own cgroup
 * and to root scratch cgroups for tests and the demo.
 */
export function parseProcCgroup(text: string): { v1: Map<string, string>; v2: string | null } {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const p = normaliseCgroupPath(line.slice(second + 1));
    if (controllers === "") v2 = p;
    else for (const c of controllers.split(",")) v1.set(c.replace(/^name=/, "name="), p);
  }
  return { v1, v2 };
}
