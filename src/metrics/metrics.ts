/**
 * cgwatch's metrics: every family the observability issue lists, and the
 * API the daemon calls. High-cardinality per-cgroup series live in the
 * chunk-rendering Store (store.ts, render.ts); prom-client's own dedicated
 * Registry carries only the process/Node.js default metrics, which are few
 * and cheap, and is appended at the end of each scrape.
 *
 * Kernel counters are MIRRORED, not counted: the daemon passes the absolute
 * values it read, so a missed or merged notification loses nothing and a
 * repeated one counts nothing twice.
 */
import { Registry, collectDefaultMetrics } from "prom-client";
import type { ActionOutcome, ActionProposal } from "../actions/types.js";
import type { IoLimitDevice } from "../cgroup/parse.js";
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import { COUNTER_FILES, type CounterFamily, type CounterFiles } from "../events/counterFiles/index.js";
import { EVENT_SOURCES_OF } from "../events/sources.js";
import { EVENT_KINDS, type PressureResource, type WatchdogEvent } from "../events/types.js";
import { findBuildInfo } from "./buildInfo.js";
import { cgroupEntries, type AddCgroupOptions, type CgroupEntries } from "./cgroupEntries.js";
import {
  setCgroupState,
  setIoCounters,
  setIoLimits,
  type CgroupStateExtra,
  type IoDeviceCounters,
} from "./cgroupGauges.js";
import { EXPOSITION_CONTENT_TYPE } from "./exposition.js";
import { defineFamilies, type Families } from "./families.js";
import * as N from "./names.js";
import { counterFamily, mirrorEvent } from "./recordEvent.js";
import { renderChunks, type RenderOptions } from "./render.js";
import { mirror } from "./seriesOps.js";
import { Store, observe } from "./store.js";

export type { AddCgroupOptions } from "./cgroupEntries.js";
export type { CgroupStateExtra, IoDeviceCounters } from "./cgroupGauges.js";

/** The kernel's report of one OOM victim, for cgwatch_oom_victims_total and cgwatch_oom_victim_rss_bytes. */
export interface VictimMetric {
  readonly comm: string;
  /** anon + file + shmem rss at the kill. */
  readonly rssBytes: number;
}

/** Absolute cpu counters (cpuacct.usage / cpu.stat usage_usec; cpu.stat nr_periods, nr_throttled, throttled time). */
export interface CpuCounters {
  readonly usageSeconds?: number;
  readonly periods?: number;
  readonly throttledPeriods?: number;
  readonly throttledSeconds?: number;
}

/** PSI `total=` of a pressure file, in seconds. */
export interface PressureCounters {
  readonly some?: number;
  readonly full?: number;
}

export interface MetricsOptions {
  /** Version/revision for cgwatch_build_info; read from package.json when absent. */
  readonly build?: { readonly version: string; readonly revision?: string };
  /** prom-client's process_* and nodejs_* metrics (default true). */
  readonly processMetrics?: boolean;
  readonly render?: RenderOptions;
  /** Monotonic ms clock (performance.now) and wall clock (Date.now), injectable for tests. */
  readonly monotonicNow?: () => number;
  readonly wallNow?: () => number;
  /** The watched counter files, whose series events raise and new cgroups start at 0 (default: COUNTER_FILES). */
  readonly counterFiles?: CounterFiles;
}

export interface Metrics {
  readonly contentType: string;
  /** The dedicated prom-client registry (process metrics only). */
  readonly registry: Registry;
  /** The series store; for tests and the benchmark, not for the daemon. */
  readonly store: Store;
  addCgroup(cgroup: string, opts: AddCgroupOptions): void;
  /** Every series of the cgroup disappears. Do the final counter read first. */
  removeCgroup(cgroup: string): void;
  /**
   * The cgroup is gone but its series stay, frozen at their last values, until
   * removeCgroup (the retention window: an alert still sees the OOM that killed
   * it). It no longer counts as watched; adding it again starts afresh.
   */
  retireCgroup(cgroup: string): void;
  /** Replaces the identity labels of the cgroup's info series (identity resolved late). */
  setIdentity(cgroup: string, identity: N.IdentityLabelValues | null): void;
  /** Counts an OOM victim of the cgroup (also while it is retired: the report can come after the rmdir). */
  recordOomVictim(cgroup: string, victim: VictimMetric): void;
  hasCgroup(cgroup: string): boolean;
  /** Settings and usage gauges from a snapshot (and the oom_kill / cpu usage counters it carries). */
  setCgroupState(cgroup: string, snapshot: CgroupSnapshot, extra?: CgroupStateExtra): void;
  setMemoryEventCounters(cgroup: string, counters: Readonly<Partial<Record<N.MemoryEventCounter, number>>>): void;
  setUnderOom(cgroup: string, underOom: boolean): void;
  setCpuCounters(cgroup: string, counters: CpuCounters): void;
  setPressureCounters(cgroup: string, resource: PressureResource, counters: PressureCounters): void;
  setPidsEventCounters(cgroup: string, counters: { readonly max?: number }): void;
  /** Mirrors absolute counter values, by label, in a counter file's family (events/counterFiles). */
  mirrorCounters(cgroup: string, family: CounterFamily, values: Readonly<Record<string, number>>): void;
  /** Replaces the cgroup's device set: devices absent from `devices` lose their series. */
  setIoCounters(cgroup: string, devices: readonly IoDeviceCounters[]): void;
  /** Replaces the cgroup's I/O throttles (docker --device-*-bps/iops): a limit no longer set loses its series. */
  setIoLimits(cgroup: string, devices: readonly IoLimitDevice[]): void;
  /** Counts the event by kind and source, and mirrors the counters it carries (never lowering them). */
  recordEvent(event: WatchdogEvent): void;
  /** Registers a policy: its evaluation counters and quarantine gauge start at 0. */
  addPolicy(policy: string): void;
  recordPolicyEvaluation(policy: string, outcome: N.PolicyEvaluationOutcome, seconds: number): void;
  recordPolicyQuarantine(policy: string, quarantined: boolean): void;
  /**
   * Counts the action's outcome; for applied, dry_run and failed ones also
   * observes the event→action latency from `proposal.cause.at` to
   * `doneAt` (monotonic ms, performance.now() by default).
   */
  recordAction(proposal: ActionProposal, outcome: ActionOutcome, doneAt?: number): void;
  /** Counts what became of one offer of a stall under OOM (all outcomes start at 0). */
  recordOomStall(outcome: N.OomStallOutcome): void;
  setNotifierFallback(notifier: N.Notifier, on: boolean): void;
  /** One more file problem started (logging/problems.ts): a read problem or a refused write, by file base name and reason. */
  recordFileProblem(op: "read" | "write", file: string, reason: string): void;
  /** The watch loop calls this on every turn; /healthz and a gauge report its age. */
  heartbeat(): void;
  /** Monotonic ms of the last heartbeat, or null before the first. */
  lastHeartbeat(): number | null;
  watchedCgroups(): number;
  renderChunks(): AsyncGenerator<string>;
  render(): Promise<string>;
}

const PRESSURE_RESOURCES: readonly PressureResource[] = ["memory", "cpu", "io"];

/** prom-client's process and Node.js metrics, in a registry of their own. */
function processRegistry(enabled: boolean): Registry {
  const registry = new Registry();
  if (!enabled) return registry;
  collectDefaultMetrics({ register: registry });
  // prom-client names three gauges `*_total`, which `promtool check
  // metrics` rejects; their per-type siblings (nodejs_active_handles{type})
  // carry the same information, summed.
  for (const m of registry.getMetricsAsArray()) {
    if (m.name.endsWith("_total") && (m as { type?: unknown }).type !== "counter") registry.removeSingleMetric(m.name);
  }
  return registry;
}

/** The series that exist from the start: build info, and every counter that can move, at 0 (so increase() sees its first step). */
function startFamilies(f: Families, build: MetricsOptions["build"]): void {
  const found = build?.version !== undefined && build.revision !== undefined ? null : findBuildInfo();
  f.buildInfo.get([
    build?.version ?? found?.version ?? "unknown",
    build?.revision ?? found?.revision ?? "unknown",
    process.versions.node,
  ]).value = 1;
  // Only the pairs that can happen (events/sources.ts).
  for (const kind of EVENT_KINDS) for (const source of EVENT_SOURCES_OF[kind]) f.events.get([kind, source]);
  for (const n of N.NOTIFIERS) f.notifierFallback.get([n]);
  for (const o of N.OOM_STALL_OUTCOMES) f.oomStalls.get([o]);
}

/** Concurrent scrapes (two Prometheus servers) share one render. */
function sharedRender(renderAll: () => AsyncGenerator<string>): () => Promise<string> {
  let inFlight: Promise<string> | null = null;
  return () => {
    if (inFlight === null) {
      const p = (async () => {
        const parts: string[] = [];
        for await (const c of renderAll()) parts.push(c);
        return parts.join("");
      })();
      inFlight = p;
      const clear = (): void => {
        if (inFlight === p) inFlight = null;
      };
      p.then(clear, clear);
    }
    return inFlight;
  };
}

type WatchdogRecorders = Pick<
  Metrics,
  | "addPolicy"
  | "recordPolicyEvaluation"
  | "recordPolicyQuarantine"
  | "recordAction"
  | "recordOomStall"
  | "recordFileProblem"
  | "setNotifierFallback"
  | "heartbeat"
  | "lastHeartbeat"
>;

/** The policy, action and watchdog-health side of the API. */
function watchdogRecorders(f: Families, monotonicNow: () => number, wallNow: () => number): WatchdogRecorders {
  let lastBeat: number | null = null;
  return {
    addPolicy(policy) {
      for (const o of N.POLICY_EVALUATION_OUTCOMES) f.policyEvaluations.get([policy, o]);
      f.policyQuarantined.get([policy]);
    },
    recordPolicyEvaluation(policy, outcome, seconds) {
      f.policyEvaluations.get([policy, outcome]).value += 1;
      observe(f.policyDuration.get([policy]), seconds);
    },
    recordPolicyQuarantine(policy, quarantined) {
      f.policyQuarantined.get([policy]).value = quarantined ? 1 : 0;
    },
    recordAction(proposal, outcome, doneAt = monotonicNow()) {
      f.actions.get([proposal.policy, proposal.action.kind, outcome.kind]).value += 1;
      switch (outcome.kind) {
        case "applied":
        case "dry_run":
        case "failed":
          observe(f.eventToAction.get([outcome.kind]), Math.max(0, (doneAt - proposal.cause.at) / 1000));
          return;
        case "rejected":
          return;
      }
    },
    recordOomStall(outcome) {
      f.oomStalls.get([outcome], true).value += 1;
    },
    recordFileProblem(op, file, reason) {
      (op === "read" ? f.readProblems : f.writeRefusals).get([file, reason], true).value += 1;
    },
    setNotifierFallback(notifier, on) {
      f.notifierFallback.get([notifier]).value = on ? 1 : 0;
    },
    heartbeat() {
      lastBeat = monotonicNow();
      f.heartbeat.get([]).value = wallNow() / 1000;
    },
    lastHeartbeat: () => lastBeat,
  };
}

type CgroupRecorders = Pick<
  Metrics,
  | "mirrorCounters"
  | "setMemoryEventCounters"
  | "setPidsEventCounters"
  | "setUnderOom"
  | "setCpuCounters"
  | "setPressureCounters"
  | "setCgroupState"
  | "setIoCounters"
  | "setIoLimits"
>;

/** The per-cgroup kernel mirrors: counters by absolute value, settings, PSI totals, block I/O. */
function cgroupRecorders(f: Families, entries: CgroupEntries): CgroupRecorders {
  const mirrorCounters: Metrics["mirrorCounters"] = (cgroup, family, values) => {
    const e = entries.live(cgroup);
    if (e === undefined) return;
    const fam = counterFamily(f, family);
    for (const [label, value] of Object.entries(values)) mirror(e.get(fam, [label]), value);
  };
  return {
    mirrorCounters,
    setMemoryEventCounters: (cgroup, counters) => mirrorCounters(cgroup, "memory_events", counters),
    setPidsEventCounters: (cgroup, c) =>
      mirrorCounters(cgroup, "pids_events", c.max === undefined ? {} : { max: c.max }),
    setUnderOom(cgroup, underOom) {
      const e = entries.live(cgroup);
      if (e !== undefined) e.get(f.underOom).value = underOom ? 1 : 0;
    },
    setCpuCounters(cgroup, c) {
      const e = entries.live(cgroup);
      if (e === undefined) return;
      if (c.usageSeconds !== undefined) mirror(e.get(f.cpuUsage), c.usageSeconds);
      if (c.periods !== undefined) mirror(e.get(f.cpuPeriods), c.periods);
      if (c.throttledPeriods !== undefined) mirror(e.get(f.cpuThrottledPeriods), c.throttledPeriods);
      if (c.throttledSeconds !== undefined) mirror(e.get(f.cpuThrottledSeconds), c.throttledSeconds);
    },
    setPressureCounters(cgroup, resource, c) {
      const e = entries.live(cgroup);
      if (e === undefined || !PRESSURE_RESOURCES.includes(resource)) return;
      if (c.some !== undefined) mirror(e.get(f.pressure, [resource, "some"]), c.some);
      if (c.full !== undefined) mirror(e.get(f.pressure, [resource, "full"]), c.full);
    },
    setCgroupState(cgroup, snapshot: CgroupSnapshot, extra: CgroupStateExtra = {}) {
      const e = entries.live(cgroup);
      if (e !== undefined) setCgroupState(f, e, snapshot, extra);
    },
    setIoCounters(cgroup, devices: readonly IoDeviceCounters[]) {
      const e = entries.live(cgroup);
      if (e !== undefined) setIoCounters(f, e, devices);
    },
    setIoLimits(cgroup, devices: readonly IoLimitDevice[]) {
      const e = entries.live(cgroup);
      if (e !== undefined) setIoLimits(f, e, devices);
    },
  };
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const store = new Store();
  const f = defineFamilies(store);
  const table = opts.counterFiles ?? COUNTER_FILES;
  const monotonicNow = opts.monotonicNow ?? (() => performance.now());
  const registry = processRegistry(opts.processMetrics ?? true);
  startFamilies(f, opts.build);
  const entries = cgroupEntries(f, table, f.watched.get([]));

  async function* renderAll(): AsyncGenerator<string> {
    const t0 = monotonicNow();
    yield* renderChunks(store, opts.render);
    // prom-client's part is a few dozen process/nodejs series: cheap.
    const processText = await registry.metrics();
    if (processText.trim() !== "") yield processText;
    f.renderSeconds.get([]).value = (monotonicNow() - t0) / 1000;
  }

  return {
    contentType: EXPOSITION_CONTENT_TYPE,
    registry,
    store,
    addCgroup: (cgroup: string, o: AddCgroupOptions) => entries.add(cgroup, o),
    removeCgroup: entries.remove,
    retireCgroup: entries.retire,
    setIdentity: entries.setIdentity,
    recordOomVictim(cgroup, victim) {
      const e = entries.any(cgroup);
      if (e === undefined) return;
      // Held at 0 until scraped (a new series' first sample is invisible to increase()).
      e.get(f.oomVictims, [victim.comm], true).value += 1;
      e.get(f.oomVictimRss, [victim.comm]).value = victim.rssBytes;
    },
    hasCgroup: (cgroup) => entries.live(cgroup) !== undefined,
    ...cgroupRecorders(f, entries),
    recordEvent(event: WatchdogEvent) {
      // cgwatch's own counters count from 0 in this process: a series born
      // with its first increment shows it (held series are for kernel mirrors,
      // whose first value may predate cgwatch).
      f.events.get([event.kind, event.source]).value += 1;
      const e = entries.live(event.cgroup);
      if (e !== undefined) mirrorEvent(f, table, e, entries.memoryVersionOf(event.cgroup), event);
    },
    ...watchdogRecorders(f, monotonicNow, opts.wallNow ?? (() => Date.now())),
    watchedCgroups: () => entries.size,
    renderChunks: renderAll,
    render: sharedRender(renderAll),
  };
}
