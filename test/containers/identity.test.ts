/**
 * Container identity on a real podman container named web-1, with cgwatch run
 * as operators run it (the shipped config, the identity roots pointed at the
 * test's private podman store): /metrics, the log and a policy's snapshot all
 * name web-1 and its image; its OOM kill's log line names the killed process
 * (from /dev/kmsg); removed at once, its OOM count and name stay exported.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildDist, sample, startCgwatch, type Cgwatch } from "../helpers/cgwatchRun.js";
import { RUN_FLAGS, describeContainers, startEngine, type Engine } from "../helpers/podman.js";

/** Logs what the snapshot says of each container it is given, and selects by name and image. */
const WHO = `
export const meta = { name: "who", on: ["cgroup_added", "oom_kill"], match: [{ container: { name: "web-*", engine: "podman" } }], cooldown: "0s" };
export function onEvent(event, cgroup, ctx) {
  ctx.log("info", "container seen", { kind: event.kind, container: cgroup.container, victim: event.victim ? event.victim.comm : null });
  return [];
}
`;

describeContainers("identity: a container named web-1 is named everywhere, and its OOM outlives it", () => {
  let engine: Engine;
  let cgwatch: Cgwatch | undefined;
  let policyDir = "";
  beforeAll(async () => {
    buildDist();
    engine = await startEngine("identity");
    policyDir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-identity-policies-"));
    fs.writeFileSync(path.join(policyDir, "who.js"), WHO);
  }, 180_000);
  afterAll(async () => {
    await cgwatch?.stop().catch(() => undefined);
    await engine?.close();
    fs.rmSync(policyDir, { recursive: true, force: true });
  }, 120_000);

  it("web-1: metrics, log, snapshot; OOM-killed and removed, it stays named for the retention window", async () => {
    const info = await engine.podman(["info", "--format", "{{.Store.GraphRoot}}"]);
    const graphRoot = info.stdout.trim();
    expect(graphRoot).not.toBe("");
    cgwatch = await startCgwatch({
      watch: [`${engine.parent}/*`],
      override: {
        policies: { dirs: [policyDir] },
        identity: { roots: { podman: [graphRoot], docker: [], containerd: [], crio: [] }, kmsg: "/dev/kmsg" },
      },
    });
    const cg = cgwatch;
    // The hog starts after a pause, so the container is seen (and named) before it dies.
    const run = await engine.podman([
      "run",
      "-d",
      "--name",
      "web-1",
      "--cgroup-parent",
      `/${engine.parent}`,
      ...RUN_FLAGS,
      "-m",
      "30m",
      engine.image,
      "/bin/sh",
      "-c",
      "sleep 2; /bin/hog 100; sleep 60",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim().split("\n").at(-1) ?? "";
    const cgroup = `${engine.parent}/libpod-${id}`;

    // The policy's snapshot: cgroup.container.
    const seen = await cg.waitLine(
      (l) => l.msg === "container seen" && (l["policyFields"] as { kind?: string } | null)?.kind === "cgroup_added",
      "the policy's container line",
      30_000,
    );
    expect(seen["policyFields"]).toMatchObject({
      container: { engine: "podman", id, name: "web-1", image: engine.image, pod: null, namespace: null },
    });
    // The log formatter names it on the same line.
    expect(seen["container"]).toEqual({ engine: "podman", name: "web-1", id: id.slice(0, 12), image: engine.image });

    // `cgwatch status --json` says who it is too.
    const status = cg.status() as {
      cgroups: { cgroup: string; container: { name: string | null; image: string | null } | null }[];
    };
    expect(status.cgroups.find((r) => r.cgroup === cgroup)?.container).toMatchObject({
      engine: "podman",
      name: "web-1",
      image: engine.image,
    });

    // /metrics: one info series with the identity.
    const text = await cg.scrape();
    expect(
      sample(text, "cgwatch_cgroup_info", {
        cgroup,
        engine: "podman",
        container_id: id,
        name: "web-1",
        image: engine.image,
      }),
    ).toBe(1);

    // The figures operators alert on, under cAdvisor's names: working set <= usage, rss and cache.
    const figures = await (async () => {
      const until = Date.now() + 20_000;
      for (;;) {
        const t = await cg.scrape();
        const ws = sample(t, "cgwatch_memory_working_set_bytes", { cgroup });
        if (ws !== undefined)
          return {
            ws,
            usage: sample(t, "cgwatch_memory_usage_bytes", { cgroup }),
            rss: sample(t, "cgwatch_memory_rss_bytes", { cgroup }),
            cache: sample(t, "cgwatch_memory_cache_bytes", { cgroup }),
          };
        if (Date.now() > until) throw new Error("no cgwatch_memory_working_set_bytes for the container");
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    expect(figures.rss).toBeGreaterThanOrEqual(0);
    expect(figures.cache).toBeGreaterThanOrEqual(0);
    expect(figures.usage).toBeGreaterThan(0);

    // The OOM kill: one line naming the container, the victim from the kernel's report.
    const oom = await cg.waitLine((l) => l.msg === "oom_kill in web-1", "the oom_kill line", 60_000);
    expect(oom["container"]).toMatchObject({ name: "web-1", image: engine.image });
    const victims = oom["victims"] as { comm: string; pid: number; anonRssBytes: number; taskMemcg: string }[];
    expect(victims).toHaveLength(1);
    expect(victims[0]).toMatchObject({ comm: "hog", taskMemcg: cgroup });
    expect(victims[0]?.anonRssBytes).toBeGreaterThan(10 * 2 ** 20);
    expect(oom["killed"]).toMatch(/^hog \(pid \d+\) anon-rss \d+\.\d MiB/);
    const policyOom = await cg.waitLine(
      (l) => l.msg === "container seen" && (l["policyFields"] as { kind?: string } | null)?.kind === "oom_kill",
      "the policy's oom_kill call",
      10_000,
    );
    // The policy got the victim too when the report was already there (it usually is; else only the line has it).
    expect([null, "hog"]).toContain((policyOom["policyFields"] as { victim: string | null }).victim);

    // Removed at once: the cgroup goes (the watched count drops; conmon's cgroup stays), its counters and name stay.
    const watchedBefore = sample(await cg.scrape(), "cgwatch_watched_cgroups") ?? 0;
    await engine.podman(["rm", "-f", "-t", "1", "web-1"], 30_000);
    const deadline = Date.now() + 30_000;
    let after = "";
    for (;;) {
      after = await cg.scrape();
      if ((sample(after, "cgwatch_watched_cgroups") ?? 0) < watchedBefore) break;
      if (Date.now() > deadline) throw new Error("the container's cgroup was never removed from the watched set");
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(fs.existsSync(`/sys/fs/cgroup/memory/${cgroup}`)).toBe(false);
    expect(sample(after, "cgwatch_memory_events_total", { cgroup, event: "oom_kill" })).toBe(1);
    expect(sample(after, "cgwatch_cgroup_info", { cgroup, name: "web-1", image: engine.image })).toBe(1);
    expect(sample(after, "cgwatch_oom_victims_total", { cgroup, comm: "hog" })).toBe(1);
    process.stdout.write(
      `identity.test: info ${after.split("\n").find((l) => l.startsWith("cgwatch_cgroup_info{") && l.includes(id)) ?? ""}\n`,
    );
    process.stdout.write(
      `identity.test: oom line ${JSON.stringify({ msg: oom.msg, container: oom["container"], killed: oom["killed"] })}\n`,
    );
  }, 180_000);
});
