/**
 * What a tracker polls (watch/trackerSettings.ts): a CPU quota on the cgroup
 * or any ancestor. The trackers of one watcher share their ancestors'
 * quotas for a short while, so 10k siblings do not each re-read the same
 * parent's cpu.max at startup and at every safety net; a cgroup's own quota
 * is always read afresh (runc writes it after the mkdir).
 */
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createFileReader, type FileReader } from "../../src/cgroup/read.js";
import { createTracker } from "../../src/watch/tracker.js";
import { ancestorQuotas } from "../../src/watch/trackerSettings.js";
import { fakeHost, type FakeHost } from "../helpers/fakeCgroupfs.js";

let host: FakeHost | null = null;
afterEach(() => {
  host?.cleanup();
  host = null;
});

/** A reader that counts the reads of each path. */
function counting(): { reader: FileReader; reads: (p: string) => number } {
  const base = createFileReader();
  const counts = new Map<string, number>();
  const count = (p: string): void => void counts.set(p, (counts.get(p) ?? 0) + 1);
  return {
    reader: {
      read: (p) => (count(p), base.read(p)),
      readOnce: (p) => (count(p), base.readOnce(p)),
      readOnceIn: (d, n) => (count(path.join(d, n)), base.readOnceIn(d, n)),
      forget: (p) => base.forget(p),
      forgetDir: (d) => base.forgetDir(d),
      close: () => base.close(),
      get openCount() {
        return base.openCount;
      },
    },
    reads: (p) => counts.get(p) ?? 0,
  };
}

describe("tracker settings: CPU quota of the cgroup or an ancestor", () => {
  it("siblings share their parent's quota read within the window; their own quota files are each read", () => {
    host = fakeHost(2);
    host.addCgroup("docker", { "cpu.max": "50000 100000\n" });
    for (const c of ["a", "b", "c"]) host.addCgroup(`docker/${c}`);
    const { reader, reads } = counting();
    let now = 0;
    const shared = ancestorQuotas(host.layout, reader, () => now, 250);
    const trackers = ["a", "b", "c"].map((c) =>
      createTracker({ layout: host!.layout, reader, cgroup: `docker/${c}`, ancestorQuotas: shared }),
    );
    for (const t of trackers) t.refreshQuota();
    expect(trackers.map((t) => t.hasCpuQuota())).toEqual([true, true, true]);
    expect(reads(host.file("docker", "cpu.max"))).toBe(1);
    for (const c of ["a", "b", "c"]) expect(reads(host.file(`docker/${c}`, "cpu.max"))).toBe(1);

    // The parent's quota is lifted: seen once the window has passed.
    host.write("docker", "cpu.max", "max 100000\n");
    for (const t of trackers) t.refreshQuota();
    expect(trackers.map((t) => t.hasCpuQuota())).toEqual([true, true, true]);
    now = 250;
    for (const t of trackers) t.refreshQuota();
    expect(trackers.map((t) => t.hasCpuQuota())).toEqual([false, false, false]);
    expect(reads(host.file("docker", "cpu.max"))).toBe(2);
    reader.close();
  });

  it("a quota written on the cgroup itself is seen at once, whatever the shared window", () => {
    host = fakeHost(2);
    host.addCgroup("docker");
    host.addCgroup("docker/a");
    const { reader } = counting();
    const t = createTracker({
      layout: host.layout,
      reader,
      cgroup: "docker/a",
      ancestorQuotas: ancestorQuotas(host.layout, reader, () => 0, 60_000),
    });
    t.refreshQuota();
    expect(t.hasCpuQuota()).toBe(false);
    host.write("docker/a", "cpu.max", "20000 100000\n");
    t.refreshQuota();
    expect(t.hasCpuQuota()).toBe(true);
    reader.close();
  });

  it("a tracker on its own reads its ancestors afresh on every refresh", () => {
    host = fakeHost(1);
    host.addCgroup("docker");
    host.addCgroup("docker/a");
    const { reader } = counting();
    const t = createTracker({ layout: host.layout, reader, cgroup: "docker/a" });
    t.refreshQuota();
    expect(t.hasCpuQuota()).toBe(false);
    host.write("docker", "cpu.cfs_quota_us", "50000\n");
    t.refreshQuota();
    expect(t.hasCpuQuota()).toBe(true);
    reader.close();
  });
});
