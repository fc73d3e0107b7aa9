/**
 * The API the daemon calls: counters mirror absolute kernel values and start
 * at 0 for new cgroups, a removed cgroup's series vanish, settings a cgroup
 * does not have have no series, events never lower a mirror.
 */
import { describe, expect, it } from "vitest";
import type { ActionProposal } from "../../src/actions/types.js";
import type { CgroupSnapshot } from "../../src/cgroup/snapshot.js";
import { EVENT_SOURCES_OF } from "../../src/events/sources.js";
import type { WatchdogEvent } from "../../src/events/types.js";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.js";
import { parseExposition, type ParsedSample } from "../helpers/parseExposition.js";

async function samples(m: Metrics): Promise<readonly ParsedSample[]> {
  return parseExposition(await m.render()).samples;
}

function pick(all: readonly ParsedSample[], name: string, labels: Record<string, string>): number | undefined {
  return all.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
}

/** One scrape, one value (note: every scrape releases held counters). */
async function value(m: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return pick(await samples(m), name, labels);
}

const fresh = (): Metrics => createMetrics({ processMetrics: false, build: { version: "t" } });

function v1Snapshot(path: string, over: Partial<NonNullable<CgroupSnapshot["memory"]>> = {}): CgroupSnapshot {
  return {
    path,
    labels: {},
    // swapLimitBytes is the swap part (memsw - limit), as readSnapshot gives it.
    memory: {
      version: 1,
      usageBytes: 10,
      limitBytes: 50 << 20,
      swapLimitBytes: 50 << 20,
      reservationBytes: null,
      highBytes: null,
      swappiness: 60,
      oomKillDisable: false,
      underOom: false,
      oomKills: 0,
      ...over,
    },
    cpu: {
      version: 1,
      quotaUs: 25_000,
      periodUs: 100_000,
      burstUs: null,
      shares: 1024,
      weight: null,
      usageSeconds: 1.5,
    },
    pids: { current: 3, max: null },
  };
}

describe("metrics API", () => {
  it("a cgroup created while watching exposes its counters at 0 first, then the kernel's values", async () => {
    const m = fresh();
    m.addCgroup("docker/a", { origin: "created", memory: 1, cpu: 1, pids: true });
    // The OOM happened before any scrape: the first scrape must still show 0,
    // or Prometheus' increase() never sees it.
    m.setMemoryEventCounters("docker/a", { oom_kill: 1, failcnt: 7 });
    const first = await samples(m);
    expect(pick(first, "cgwatch_memory_events_total", { cgroup: "docker/a", event: "oom_kill" })).toBe(0);
    expect(pick(first, "cgwatch_memory_events_total", { cgroup: "docker/a", event: "failcnt" })).toBe(0);
    expect(pick(first, "cgwatch_cpu_throttled_periods_total", { cgroup: "docker/a" })).toBe(0);
    expect(pick(first, "cgwatch_pids_events_total", { cgroup: "docker/a", event: "max" })).toBe(0);
    const second = await samples(m);
    expect(pick(second, "cgwatch_memory_events_total", { cgroup: "docker/a", event: "oom_kill" })).toBe(1);
    expect(pick(second, "cgwatch_memory_events_total", { cgroup: "docker/a", event: "failcnt" })).toBe(7);
    // v1 has no memory.events: no v2-only keys were invented.
    expect(pick(second, "cgwatch_memory_events_total", { cgroup: "docker/a", event: "low" })).toBeUndefined();
  });

  it("v2 cgroups start with every memory.events key at 0", async () => {
    const m = fresh();
    m.addCgroup("a", { origin: "created", memory: 2 });
    const events = (await samples(m))
      .filter((s) => s.name === "cgwatch_memory_events_total")
      .map((s) => [s.labels["event"], s.value]);
    expect(events.sort()).toEqual([
      ["high", 0],
      ["low", 0],
      ["max", 0],
      ["oom", 0],
      ["oom_group_kill", 0],
      ["oom_kill", 0],
    ]);
  });

  it("a cgroup found at startup shows its current counters at once (no false increase)", async () => {
    const m = fresh();
    m.addCgroup("old", { origin: "startup", memory: 1 });
    expect(await value(m, "cgwatch_memory_events_total", { cgroup: "old", event: "oom_kill" })).toBeUndefined();
    m.setMemoryEventCounters("old", { oom_kill: 3 });
    expect(await value(m, "cgwatch_memory_events_total", { cgroup: "old", event: "oom_kill" })).toBe(3);
  });

  it("setters mirror absolute values: repeating a read counts nothing twice", async () => {
    const m = fresh();
    m.addCgroup("a", { origin: "startup", memory: 2 });
    for (let i = 0; i < 3; i++) m.setMemoryEventCounters("a", { oom_kill: 2, max: 40 });
    expect(await value(m, "cgwatch_memory_events_total", { cgroup: "a", event: "oom_kill" })).toBe(2);
    expect(await value(m, "cgwatch_memory_events_total", { cgroup: "a", event: "max" })).toBe(40);
  });

  it("removeCgroup drops every series of that cgroup and only those", async () => {
    const m = fresh();
    for (const cg of ["a", "b"]) {
      m.addCgroup(cg, { origin: "created", memory: 1, cpu: 1, pids: true });
      m.setCgroupState(cg, v1Snapshot(cg), { kernelMemoryBytes: 5, cpusetCpus: 2 });
      m.setIoCounters(cg, [{ device: "8:0", readBytes: 1 }]);
      m.setPressureCounters(cg, "io", { some: 1 });
    }
    const before = (await samples(m)).filter((s) => s.labels["cgroup"] === "a").length;
    expect(before).toBeGreaterThan(15);
    expect(await value(m, "cgwatch_watched_cgroups", {})).toBe(2);
    m.removeCgroup("a");
    const after = await samples(m);
    expect(after.filter((s) => s.labels["cgroup"] === "a")).toEqual([]);
    expect(after.filter((s) => s.labels["cgroup"] === "b").length).toBe(before);
    expect(await value(m, "cgwatch_watched_cgroups", {})).toBe(1);
    // Setters for a removed cgroup do not resurrect it.
    m.setMemoryEventCounters("a", { oom_kill: 9 });
    m.recordEvent({ kind: "oom_kill", cgroup: "a", at: 1, source: "eventfd", counter: { before: 0, after: 9 } });
    expect((await samples(m)).filter((s) => s.labels["cgroup"] === "a")).toEqual([]);
  });

  it("settings: a limit that becomes unlimited loses its series; v1 memsw and v2 swap are separate families", async () => {
    const m = fresh();
    m.addCgroup("a", { origin: "startup", memory: 1 });
    m.setCgroupState("a", v1Snapshot("a"));
    expect(await value(m, "cgwatch_memory_limit_bytes", { cgroup: "a" })).toBe(50 << 20);
    expect(await value(m, "cgwatch_memory_memsw_limit_bytes", { cgroup: "a" })).toBe(100 << 20);
    expect(await value(m, "cgwatch_memory_swap_limit_bytes", { cgroup: "a" })).toBeUndefined();
    expect(await value(m, "cgwatch_cpu_quota_cores", { cgroup: "a" })).toBe(0.25);
    expect(await value(m, "cgwatch_cpu_period_seconds", { cgroup: "a" })).toBe(0.1);
    expect(await value(m, "cgwatch_cpu_usage_seconds_total", { cgroup: "a" })).toBe(1.5);
    expect(await value(m, "cgwatch_pids_max", { cgroup: "a" })).toBeUndefined();
    m.setCgroupState("a", v1Snapshot("a", { limitBytes: null }));
    expect(await value(m, "cgwatch_memory_limit_bytes", { cgroup: "a" })).toBeUndefined();
  });

  it("io limits (docker --device-*-bps/iops): bytes and operations families; a limit that is lifted loses its series", async () => {
    const m = fresh();
    m.addCgroup("a", { origin: "startup" });
    m.setIoLimits("a", [{ device: "254:0", writeBps: 1 << 20, readIops: 100 }]);
    const lim = async (): Promise<(string | number | undefined)[][]> =>
      (await samples(m))
        .filter((s) => s.name.startsWith("cgwatch_io_limit_"))
        .map((s) => [s.name, s.labels["device"], s.labels["op"], s.value]);
    expect(await lim()).toEqual([
      ["cgwatch_io_limit_bytes_per_second", "254:0", "write", 1 << 20],
      ["cgwatch_io_limit_operations_per_second", "254:0", "read", 100],
    ]);
    m.setIoLimits("a", [{ device: "254:0", readIops: 50 }]);
    expect(await lim()).toEqual([["cgwatch_io_limit_operations_per_second", "254:0", "read", 50]]);
  });

  it("io devices that disappear lose their series", async () => {
    const m = fresh();
    m.addCgroup("a", { origin: "startup" });
    m.setIoCounters("a", [
      { device: "8:0", readBytes: 1, writeOps: 2 },
      { device: "8:16", readBytes: 3 },
    ]);
    m.setIoCounters("a", [{ device: "8:16", readBytes: 4 }]);
    const io = (await samples(m)).filter((s) => s.name.startsWith("cgwatch_io_"));
    expect(io.map((s) => [s.name, s.labels["device"], s.labels["op"], s.value])).toEqual([
      ["cgwatch_io_bytes_total", "8:16", "read", 4],
    ]);
  });

  it("recordEvent counts by kind and source, mirrors the counter it carries, and never lowers it", async () => {
    const m = fresh();
    m.addCgroup("a", { origin: "startup", memory: 1 });
    const ev = (after: number): WatchdogEvent => ({
      kind: "oom_kill",
      cgroup: "a",
      at: 0,
      source: "eventfd",
      counter: { before: after - 1, after },
    });
    m.recordEvent(ev(2));
    m.setMemoryEventCounters("a", { oom_kill: 3 }); // a fresher poll read
    m.recordEvent(ev(2)); // a late event must not move the mirror back
    m.recordEvent({
      kind: "under_oom",
      cgroup: "a",
      at: 0,
      source: "eventfd",
      underOom: true,
      oomKillDisable: true,
      stalledMs: 0,
    });
    expect(await value(m, "cgwatch_memory_events_total", { cgroup: "a", event: "oom_kill" })).toBe(3);
    expect(await value(m, "cgwatch_events_total", { kind: "oom_kill", source: "eventfd" })).toBe(2);
    expect(await value(m, "cgwatch_events_total", { kind: "oom_kill", source: "poll" })).toBe(0);
    expect(await value(m, "cgwatch_under_oom", { cgroup: "a" })).toBe(1);
    expect(await value(m, "cgwatch_memory_oom_kill_disable", { cgroup: "a" })).toBe(1);
  });

  it("each memory event kind raises its own key: v2 low/high/max/oom*, v1 limit hits as failcnt", async () => {
    const m = fresh();
    m.addCgroup("v2", { origin: "startup", memory: 2 });
    m.addCgroup("v1", { origin: "startup", memory: 1 });
    const kinds = ["memory_low", "memory_high", "memory_max", "oom", "oom_kill", "oom_group_kill"] as const;
    kinds.forEach((kind, i) =>
      m.recordEvent({ kind, cgroup: "v2", at: 0, source: "inotify", counter: { before: 0, after: 10 + i } }),
    );
    m.recordEvent({ kind: "memory_max", cgroup: "v1", at: 0, source: "poll", counter: { before: 0, after: 7 } });
    const all = await samples(m);
    const v2 = Object.fromEntries(
      ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"].map((e) => [
        e,
        pick(all, "cgwatch_memory_events_total", { cgroup: "v2", event: e }),
      ]),
    );
    expect(v2).toEqual({ low: 10, high: 11, max: 12, oom: 13, oom_kill: 14, oom_group_kill: 15 });
    expect(pick(all, "cgwatch_memory_events_total", { cgroup: "v1", event: "failcnt" })).toBe(7);
    expect(pick(all, "cgwatch_memory_events_total", { cgroup: "v1", event: "max" })).toBeUndefined();
  });

  it("policies and actions: counters start at 0, latency measured from the event's read time", async () => {
    const m = fresh();
    m.addPolicy("rescue");
    expect(await value(m, "cgwatch_policy_evaluations_total", { policy: "rescue", outcome: "timeout" })).toBe(0);
    expect(await value(m, "cgwatch_policy_quarantined", { policy: "rescue" })).toBe(0);
    m.recordPolicyEvaluation("rescue", "ok", 0.002);
    m.recordPolicyEvaluation("rescue", "timeout", 0.1);
    m.recordPolicyQuarantine("rescue", true);
    const proposal: ActionProposal = {
      policy: "rescue",
      cgroup: "a",
      action: { kind: "set_memory_limit", bytes: 1 << 30 },
      cause: { kind: "under_oom", at: 1000 },
    };
    m.recordAction(proposal, { kind: "applied", before: "1", after: "2" }, 1000.3);
    m.recordAction(proposal, { kind: "rejected", guardrail: "max_step", reason: "too big" }, 5000);
    // cgwatch's own counters count from 0 in this process: the first scrape shows the first increment.
    expect(
      await value(m, "cgwatch_actions_total", { policy: "rescue", action: "set_memory_limit", outcome: "applied" }),
    ).toBe(1);
    expect(
      await value(m, "cgwatch_actions_total", { policy: "rescue", action: "set_memory_limit", outcome: "rejected" }),
    ).toBe(1);
    expect(await value(m, "cgwatch_policy_evaluations_total", { policy: "rescue", outcome: "timeout" })).toBe(1);
    expect(await value(m, "cgwatch_policy_quarantined", { policy: "rescue" })).toBe(1);
    expect(await value(m, "cgwatch_policy_duration_seconds_count", { policy: "rescue" })).toBe(2);
    expect(await value(m, "cgwatch_event_to_action_seconds_count", { outcome: "applied" })).toBe(1);
    expect(await value(m, "cgwatch_event_to_action_seconds_bucket", { outcome: "applied", le: "0.0001" })).toBe(0);
    expect(await value(m, "cgwatch_event_to_action_seconds_bucket", { outcome: "applied", le: "0.0005" })).toBe(1);
    expect(await value(m, "cgwatch_event_to_action_seconds_count", { outcome: "rejected" })).toBeUndefined();
  });

  it("cgwatch_events_total exports only the (kind, source) pairs that can happen, each from 0", async () => {
    const m = fresh();
    const pairs = (await samples(m))
      .filter((s) => s.name === "cgwatch_events_total")
      .map((s) => `${s.labels["kind"]}/${s.labels["source"]}`);
    expect(pairs).toContain("oom_kill/eventfd");
    expect(pairs).toContain("cgroup_added/inotify");
    expect(pairs).not.toContain("cgroup_added/psi");
    expect(pairs).not.toContain("cpu_throttled/inotify");
    expect(pairs).toHaveLength(Object.values(EVENT_SOURCES_OF).flat().length);
    m.recordEvent({
      kind: "cpu_throttled",
      cgroup: "x",
      at: 1,
      source: "poll",
      periods: { before: 0, after: 1 },
      throttledPeriods: { before: 0, after: 1 },
      throttledSeconds: { before: 0, after: 0.1 },
      ratio: 1,
      intervalSeconds: 1,
    });
    expect(await value(m, "cgwatch_events_total", { kind: "cpu_throttled", source: "poll" })).toBe(1);
  });

  it("heartbeat, fallback and build info", async () => {
    let wall = 1_700_000_000_000;
    const m = createMetrics({
      processMetrics: false,
      build: { version: "1.2.3", revision: "abc" },
      wallNow: () => wall,
      monotonicNow: () => 42,
    });
    expect(m.lastHeartbeat()).toBeNull();
    expect(await value(m, "cgwatch_watch_loop_heartbeat_timestamp_seconds", {})).toBeUndefined();
    m.heartbeat();
    wall += 1;
    expect(m.lastHeartbeat()).toBe(42);
    expect(await value(m, "cgwatch_watch_loop_heartbeat_timestamp_seconds", {})).toBe(1_700_000_000);
    m.setNotifierFallback("eventfd", true);
    expect(await value(m, "cgwatch_notifier_fallback", { notifier: "eventfd" })).toBe(1);
    expect(await value(m, "cgwatch_notifier_fallback", { notifier: "psi" })).toBe(0);
    expect(
      await value(m, "cgwatch_build_info", { version: "1.2.3", revision: "abc", nodejs: process.versions.node }),
    ).toBe(1);
  });

  it("concurrent scrapes share one render; process metrics come from prom-client's registry", async () => {
    const m = createMetrics({ build: { version: "t" } });
    const a = m.render();
    const b = m.render();
    expect(a).toBe(b);
    const text = await a;
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    expect(m.render()).not.toBe(a);
  });
});
