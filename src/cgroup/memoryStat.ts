/**
 * The memory figures operators alert on, from memory.stat, computed the way
 * the kubelet and cAdvisor do:
 *
 * - working set = usage − inactive file cache, floored at 0 (what the
 *   kubelet's eviction compares with its threshold; cAdvisor's
 *   container_memory_working_set_bytes);
 * - rss = anonymous memory (v1 `total_rss`, v2 `anon`; container_memory_rss);
 * - cache = page cache (v1 `total_cache`, v2 `file`; container_memory_cache).
 *
 * v1 uses the hierarchical `total_*` keys (a cgroup's figures include its
 * children, as its usage does). Pure; absent keys give null.
 */
import type { CgroupVersion } from "./layout.js";
import { parseFlatKeyed } from "./parse.js";

export interface MemoryFigures {
  readonly workingSetBytes: number | null;
  readonly rssBytes: number | null;
  readonly cacheBytes: number | null;
}

const KEYS: Readonly<
  Record<CgroupVersion, { readonly inactive: string; readonly rss: string; readonly cache: string }>
> = {
  1: { inactive: "total_inactive_file", rss: "total_rss", cache: "total_cache" },
  2: { inactive: "inactive_file", rss: "anon", cache: "file" },
};

export function memoryFigures(version: CgroupVersion, usageBytes: number | null, memoryStat: string): MemoryFigures {
  const v = parseFlatKeyed(memoryStat).values;
  const k = KEYS[version];
  const inactive = v.get(k.inactive);
  return {
    workingSetBytes: usageBytes === null || inactive === undefined ? null : Math.max(0, usageBytes - inactive),
    rssBytes: v.get(k.rss) ?? null,
    cacheBytes: v.get(k.cache) ?? null,
  };
}
