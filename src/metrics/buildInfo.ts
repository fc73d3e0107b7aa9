/**
 * Version and git revision for `cgwatch_build_info`. The revision comes from
 * package.json's `gitHead` (npm writes it when packing from a git checkout),
 * else from the checkout's own .git (HEAD, a worktree's gitdir, loose or
 * packed refs; no git binary needed), else "unknown": never an empty label.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface BuildInfo {
  readonly version: string;
  readonly revision: string;
}

const HEX = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, "utf8").trim();
  } catch {
    return null;
  }
}

/** The commit HEAD names in the checkout at `dir`, or null. */
export function gitRevision(dir: string): string | null {
  let gitDir = path.join(dir, ".git");
  const dotGit = readText(gitDir);
  // A worktree or submodule: .git is a file "gitdir: <path>".
  if (dotGit !== null && dotGit.startsWith("gitdir:"))
    gitDir = path.resolve(dir, dotGit.slice("gitdir:".length).trim());
  const head = readText(path.join(gitDir, "HEAD"));
  if (head === null) return null;
  if (HEX.test(head)) return head;
  const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
  if (ref === undefined) return null;
  const common = readText(path.join(gitDir, "commondir"));
  const dirs = common === null ? [gitDir] : [gitDir, path.resolve(gitDir, common)];
  for (const d of dirs) {
    const loose = readText(path.join(d, ref));
    if (loose !== null && HEX.test(loose)) return loose;
    const packed = readText(path.join(d, "packed-refs"));
    const line = packed?.split("\n").find((l) => l.endsWith(` ${ref}`));
    const sha = line?.split(" ")[0];
    if (sha !== undefined && HEX.test(sha)) return sha;
  }
  return null;
}

/** Walks up from this file to cgwatch's package.json: the same code runs from src/ (vitest) and dist/src/ (node). */
export function findBuildInfo(from: string = path.dirname(fileURLToPath(import.meta.url))): BuildInfo {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    const text = readText(path.join(dir, "package.json"));
    if (text !== null) {
      try {
        const pkg = JSON.parse(text) as { name?: unknown; version?: unknown; gitHead?: unknown };
        if (pkg.name === "cgwatch" && typeof pkg.version === "string") {
          const revision = typeof pkg.gitHead === "string" && HEX.test(pkg.gitHead) ? pkg.gitHead : gitRevision(dir);
          return { version: pkg.version, revision: revision === null ? "unknown" : revision.slice(0, 12) };
        }
      } catch {
        /* not ours: keep walking up */
      }
    }
    dir = path.dirname(dir);
  }
  return { version: "unknown", revision: "unknown" };
}
