/**
 * v1 memory.pressure_level through the config, as an operator sets it:
 * `cgwatch run` with `v1PressureLevels: [low]` watching two 50M scratch
 * cgroups, one of them matched by a watch rule that registers none. A
 * page-cache writer in each makes the kernel reclaim; only the first gives
 * memory_pressure events (from eventfd). Before, nothing passed a level to
 * the watcher: the kernel woke its eventfds hundreds of times, cgwatch saw 0.
 */
import fs from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/index.js";
import { buildDist, runCgwatch, waitFor } from "../helpers/cliRun.js";
import { IN_CI, createScratchCgroup, describeRealV1, waitExit, type ScratchCgroup } from "../helpers/realCgroup.js";

const MB = 1024 * 1024;

beforeAll(buildDist, 120_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const native = loadNative();
const suite =
  native.kind === "loaded" || IN_CI
    ? describeRealV1
    : (name: string, _c: readonly string[], body: () => void) =>
        describe.skip(`[real v1, SKIPPED: no native addon] ${name}`, body);

/** Writes 120 MB through the page cache in a 50M cgroup: reclaim, no OOM. */
function reclaim(s: ScratchCgroup, dir: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const script =
    "import os, sys\nf = open(sys.argv[1], 'wb')\nfor i in range(120):\n    f.write(b'x' * 1048576)\n    if i % 8 == 7: f.flush(); os.fsync(f.fileno())\nf.close()";
  return waitExit(s.spawnInside("python3", ["-c", script, `${dir}/cache`], 25_000));
}

suite("v1 pressure levels from the config", ["memory"], () => {
  it("v1PressureLevels: [low] registers on every watched cgroup; a watch rule's [] registers none", async () => {
    const base = createScratchCgroup(["memory"], "plv");
    cleanups.push(() => base.remove());
    const loud = base.child("loud");
    const quiet = base.child("quiet");
    for (const s of [loud, quiet]) s.write("memory", "memory.limit_in_bytes", String(50 * MB));
    const run = runCgwatch([
      "v1PressureLevels: [low]",
      "watch:",
      `  - ${JSON.stringify(`${base.cgroup}/*`)}`,
      `  - pattern: ${JSON.stringify(quiet.cgroup)}`,
      "    v1PressureLevels: []",
      "log: { level: debug }",
    ]);
    cleanups.push(() => run.cleanup());
    await waitFor(() => run.out().includes("ready: first scan complete"), "ready");
    const dir = fs.mkdtempSync("/var/tmp/cgwatch-plv-");
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    expect(await reclaim(quiet, dir)).toEqual({ code: 0, signal: null });
    expect(await reclaim(loud, dir)).toEqual({ code: 0, signal: null });
    const pressure = (cg: string) =>
      run.lines().filter((l) => l["msg"] === "memory_pressure" && (l["event"] as { cgroup?: string }).cgroup === cg);
    await waitFor(() => pressure(loud.cgroup).length > 0, "memory_pressure of the loud cgroup", 10_000);
    expect(pressure(loud.cgroup)[0]?.["event"]).toMatchObject({ source: "eventfd", resource: "memory", level: "low" });
    // The quiet cgroup reclaimed first and as much: no registration, no event.
    expect(pressure(quiet.cgroup)).toEqual([]);
    expect(
      run.lines().filter((l) => l["msg"] === "notification source failed; the safety net keeps re-reading"),
    ).toEqual([]);
  }, 60_000);
});
