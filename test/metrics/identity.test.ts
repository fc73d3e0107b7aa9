import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/metrics/metrics.js";

const ID = {
  engine: "podman",
  container_id: "ab".repeat(32),
  name: "web-1",
  image: "localhost/web:1",
  pod: "",
  namespace: "",
  container: "",
} as const;
const render = (m: ReturnType<typeof createMetrics>) => m.render();

describe("identity, retention and OOM victims in the metrics store", () => {
  it("a late identity replaces the info series' labels, not adds a second one", async () => {
    const m = createMetrics({ processMetrics: false });
    m.addCgroup("p/libpod-x", { origin: "startup", memory: 1, cpu: 1 });
    m.setIdentity("p/libpod-x", ID);
    const info = (await render(m)).split("\n").filter((l) => l.startsWith("cgwatch_cgroup_info{"));
    expect(info).toEqual([
      'cgwatch_cgroup_info{cgroup="p/libpod-x",memory="1",cpu="1",engine="podman",container_id="' +
        ID.container_id +
        '",name="web-1",image="localhost/web:1",pod="",namespace="",container=""} 1',
    ]);
  });

  it("a retired cgroup keeps its series but is not watched; re-created, it starts afresh", async () => {
    const m = createMetrics({ processMetrics: false });
    m.addCgroup("c", { origin: "startup", memory: 2, identity: ID });
    m.setMemoryEventCounters("c", { oom_kill: 4 });
    m.retireCgroup("c");
    expect(m.hasCgroup("c")).toBe(false);
    expect(m.watchedCgroups()).toBe(0);
    let text = await render(m);
    expect(text).toContain('cgwatch_memory_events_total{cgroup="c",event="oom_kill"} 4');
    expect(text).toContain('name="web-1"');
    // Setters ignore a retired cgroup (a late poll must not revive it).
    m.setMemoryEventCounters("c", { oom_kill: 9 });
    expect(await render(m)).toContain('cgwatch_memory_events_total{cgroup="c",event="oom_kill"} 4');
    m.addCgroup("c", { origin: "created", memory: 2 });
    text = await render(m);
    expect(text).toContain('cgwatch_memory_events_total{cgroup="c",event="oom_kill"} 0');
    expect(text).not.toContain('name="web-1"');
    m.removeCgroup("c");
    expect(await render(m)).not.toContain('cgroup="c"');
  });

  it("an OOM victim counts by process name, also after retirement, held at 0 for its first scrape", async () => {
    const m = createMetrics({ processMetrics: false });
    m.addCgroup("c", { origin: "startup", memory: 1 });
    m.retireCgroup("c");
    m.recordOomVictim("c", { comm: "hog", rssBytes: 31_000_000 });
    expect(await render(m)).toContain('cgwatch_oom_victims_total{cgroup="c",comm="hog"} 0');
    const text = await render(m);
    expect(text).toContain('cgwatch_oom_victims_total{cgroup="c",comm="hog"} 1');
    expect(text).toContain('cgwatch_oom_victim_rss_bytes{cgroup="c",comm="hog"} 31000000');
  });

  it("working set, rss and cache from the memory figures; absent figures drop their series", async () => {
    const m = createMetrics({ processMetrics: false });
    m.addCgroup("c", { origin: "startup", memory: 2 });
    const snap = { path: "c", labels: {}, memory: null, cpu: null, pids: null };
    m.setCgroupState("c", snap, { memoryFigures: { workingSetBytes: 100, rssBytes: 60, cacheBytes: 50 } });
    let text = await render(m);
    expect(text).toContain('cgwatch_memory_working_set_bytes{cgroup="c"} 100');
    expect(text).toContain('cgwatch_memory_rss_bytes{cgroup="c"} 60');
    expect(text).toContain('cgwatch_memory_cache_bytes{cgroup="c"} 50');
    m.setCgroupState("c", snap, { memoryFigures: { workingSetBytes: null, rssBytes: 60, cacheBytes: 50 } });
    text = await render(m);
    expect(text).not.toContain('cgwatch_memory_working_set_bytes{cgroup="c"}');
  });
});
