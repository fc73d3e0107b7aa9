import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { memoryFigures } from "../../src/cgroup/memoryStat.js";

const V1 = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/kernel/v1");

/** A v2 memory.stat as 6.1 prints it (first keys; the rest do not matter here). */
const V2_STAT = `anon 104857600
file 52428800
kernel 2162688
kernel_stack 65536
pagetables 262144
sock 0
shmem 0
file_mapped 1048576
file_dirty 0
file_writeback 0
swapcached 0
anon_thp 0
inactive_anon 104726528
active_anon 131072
inactive_file 41943040
active_file 10485760
unevictable 0
`;

describe("memoryFigures (kubelet/cAdvisor working set, rss, cache)", () => {
  it("v1, on this host's captured memory.stat: usage − total_inactive_file, total_rss, total_cache", () => {
    const usage = Number(fs.readFileSync(path.join(V1, "memory.usage_in_bytes"), "utf8"));
    const f = memoryFigures(1, usage, fs.readFileSync(path.join(V1, "memory.stat"), "utf8"));
    expect(f).toEqual({ workingSetBytes: 57581568 - 16932864, rssBytes: 2334720, cacheBytes: 37384192 });
  });
  it("v2: memory.current − inactive_file, anon, file", () => {
    expect(memoryFigures(2, 160 * 1024 * 1024, V2_STAT)).toEqual({
      workingSetBytes: 160 * 1024 * 1024 - 41943040,
      rssBytes: 104857600,
      cacheBytes: 52428800,
    });
  });
  it("never negative: inactive_file can exceed a usage read a moment earlier", () => {
    expect(memoryFigures(2, 1000, V2_STAT).workingSetBytes).toBe(0);
  });
  it("absent keys or usage are null, not 0", () => {
    expect(memoryFigures(1, null, "cache 5\n")).toEqual({ workingSetBytes: null, rssBytes: null, cacheBytes: null });
  });
});
