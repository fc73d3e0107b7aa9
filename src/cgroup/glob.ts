/**
 * cgroup path globs, relative to each hierarchy root: `docker/*`,
 * `system.slice/*.service`, `kubepods.slice/**`. `*` and `?` match within one
 * path segment; a `**` segment matches zero or more whole segments.
 */
import { normaliseCgroupPath } from "./paths.js";

export type CgroupMatcher = (cgroup: string) => boolean;

function segmentRegex(seg: string): RegExp {
  const body = seg
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${body}$`);
}

export function compileCgroupGlob(pattern: string): CgroupMatcher {
  const segs = normaliseCgroupPath(pattern)
    .split("/")
    .filter((s) => s !== "");
  const compiled = segs.map((s) => (s === "**" ? null : segmentRegex(s)));
  const match = (pi: number, parts: readonly string[], ti: number): boolean => {
    if (pi === compiled.length) return ti === parts.length;
    const re = compiled[pi];
    if (re === null || re === undefined) {
      for (let k = ti; k <= parts.length; k++) if (match(pi + 1, parts, k)) return true;
      return false;
    }
    const part = parts[ti];
    return part !== undefined && re.test(part) && match(pi + 1, parts, ti + 1);
  };
  return (cgroup) => {
    const parts = cgroup === "" ? [] : cgroup.split("/");
    return match(0, parts, 0);
  };
}

/**
 * The longest literal directory prefix of a pattern: discovery only needs to
 * walk and watch below it ("docker/*" → "docker", "**" → "").
 */
export function literalPrefix(pattern: string): string {
  const segs = normaliseCgroupPath(pattern)
    .split("/")
    .filter((s) => s !== "");
  const out: string[] = [];
  for (const s of segs) {
    if (/[*?]/.test(s)) break;
    out.push(s);
  }
  // A fully literal pattern names the cgroup itself; its parent is what can gain/lose it.
  if (out.length === segs.length) out.pop();
  return out.join("/");
}

/** How deep below the prefix a pattern can reach (Infinity with "**"). */
export function maxDepthBelowPrefix(pattern: string): number {
  const segs = normaliseCgroupPath(pattern)
    .split("/")
    .filter((s) => s !== "");
  if (segs.includes("**")) return Infinity;
  return (
    segs.length -
    literalPrefix(pattern)
      .split("/")
      .filter((s) => s !== "").length
  );
}
