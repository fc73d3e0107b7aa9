/**
 * The compiled tree (dist/), for tests that must run cgwatch's code in a
 * child process (`cgwatch run`, a child with a capability dropped).
 * `npm test` builds first; a lone `npx vitest run` rebuilds when a source is
 * newer than the build, through the one locked helper (cliRun.ts buildDist),
 * so test files never run tsc over dist/ at once or while another's child
 * loads it.
 */
import path from "node:path";
import { buildDist } from "./cliRun.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const DIST = path.join(ROOT, "dist");

/** Compiles with tsc unless dist/ is fresh. Throws with tsc's output when it fails. */
export function ensureDist(): void {
  buildDist();
}
