/**
 * The compiled tree (dist/), for tests that must run cgwatch's code in a
 * child process (`cgwatch run`, a child with a capability dropped).
 * `npm test` builds first; a lone `npx vitest run` rebuilds here when a
 * source is newer than the build, so a child never runs stale code.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const DIST = path.join(ROOT, "dist");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith(".ts")) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** Compiles with tsc unless dist/src/cli.js is newer than every file under src/. Throws with tsc's output when it fails. */
export function ensureDist(): void {
  const marker = path.join(DIST, "src", "cli.js");
  if (fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= newestMtime(path.join(ROOT, "src"))) return;
  const r = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tsc failed:\n${r.stdout}\n${r.stderr}`);
}
