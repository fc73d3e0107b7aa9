/**
 * The host side of `cgwatch policy test`, simulated: what the guardrails
 * would say to each proposal (the executor's own checks from
 * actions/guardrails.ts and plans from actions/plan.ts, fed with control
 * file text made from the snapshot instead of read from cgroupfs), and what
 * an applied action does to the snapshot the policy sees next, so a ramp
 * (raise, raise again from the new limit) replays. Pure: no I/O, the trace's
 * own timestamps are the clock.
 */
import { guardrailsForPolicy, type GuardrailSettings } from "./guardrailConfig.js";
import {
  answersStall,
  checkCooldown,
  checkEffect,
  checkProtected,
  fullBucket,
  noteCooldown,
  ownProtectedSet,
  takeToken,
  type TokenBucket,
} from "./guardrails.js";
import { controllerFor, planAction, readsFor, sharesToWeight, type Current } from "./plan.js";
import type { Action, ActionProposal } from "./types.js";
import type { CgroupVersion } from "../cgroup/layout.js";
import type { CgroupSnapshot, CpuSnapshot, MemorySnapshot } from "../cgroup/snapshot.js";

/** What v1 shows for "no limit" (PAGE_COUNTER_MAX pages, 4 KiB pages). */
const V1_UNLIMITED = "9223372036854771712";

const text = (v: number | null | undefined, none: string): string | null =>
  v === undefined ? null : v === null ? none : String(v);

/** The control files a plan would read, as text made from the snapshot; absent when the snapshot cannot tell. */
export function filesFromSnapshot(s: CgroupSnapshot, version: CgroupVersion): Current {
  const files = new Map<string, string | null>();
  const put = (file: string, value: string | null): void => {
    if (value !== null) files.set(file, value);
  };
  const m = s.memory;
  if (m !== null && version === 1) {
    put("memory.limit_in_bytes", text(m.limitBytes, V1_UNLIMITED));
    put(
      "memory.memsw.limit_in_bytes",
      m.limitBytes === null || m.swapLimitBytes === null ? V1_UNLIMITED : String(m.limitBytes + m.swapLimitBytes),
    );
    put("memory.usage_in_bytes", text(m.usageBytes ?? undefined, ""));
    put("memory.soft_limit_in_bytes", text(m.reservationBytes, V1_UNLIMITED));
    put("memory.swappiness", text(m.swappiness ?? undefined, ""));
    if (m.oomKillDisable !== null)
      put(
        "memory.oom_control",
        `oom_kill_disable ${m.oomKillDisable ? 1 : 0}\nunder_oom ${m.underOom === true ? 1 : 0}\noom_kill ${m.oomKills ?? 0}\n`,
      );
  } else if (m !== null) {
    put("memory.max", text(m.limitBytes, "max"));
    put("memory.current", text(m.usageBytes ?? undefined, ""));
    put("memory.swap.max", text(m.swapLimitBytes, "max"));
    put("memory.low", text(m.reservationBytes, "0"));
    put("memory.high", text(m.highBytes, "max"));
  }
  const c = s.cpu;
  if (c !== null && version === 1) {
    put("cpu.cfs_quota_us", text(c.quotaUs, "-1"));
    put("cpu.cfs_period_us", text(c.periodUs ?? undefined, ""));
    put("cpu.cfs_burst_us", text(c.burstUs ?? 0, "0"));
    put("cpu.shares", text(c.shares ?? undefined, ""));
  } else if (c !== null) {
    put("cpu.max", `${c.quotaUs === null ? "max" : String(c.quotaUs)} ${String(c.periodUs ?? 100_000)}`);
    put("cpu.max.burst", String(c.burstUs ?? 0));
    put("cpu.weight", text(c.weight ?? undefined, ""));
  }
  if (s.pids !== null) put("pids.max", text(s.pids.max, "max"));
  return files;
}

/** The cgroup version an action's files would be in, from the snapshot. */
function versionFor(action: Action, s: CgroupSnapshot): CgroupVersion {
  switch (controllerFor(action)) {
    case "memory":
      return s.memory?.version ?? s.cpu?.version ?? 2;
    case "cpu":
    case "cpuacct":
      return s.cpu?.version ?? s.memory?.version ?? 2;
    default:
      return s.memory?.version ?? s.cpu?.version ?? 2;
  }
}

const bytes = (b: number | "max"): number | null => (b === "max" ? null : b);

/** The snapshot after an applied action: the settings it changes, nothing else (usage is the kernel's to change). */
export function applyToSnapshot(s: CgroupSnapshot, action: Action): CgroupSnapshot {
  const memory = (patch: Partial<MemorySnapshot>): CgroupSnapshot =>
    s.memory === null ? s : { ...s, memory: { ...s.memory, ...patch } };
  const cpu = (patch: Partial<CpuSnapshot>): CgroupSnapshot =>
    s.cpu === null ? s : { ...s, cpu: { ...s.cpu, ...patch } };
  switch (action.kind) {
    case "set_memory_limit":
      return memory({ limitBytes: bytes(action.bytes) });
    case "set_swap_limit":
      return memory({ swapLimitBytes: bytes(action.bytes) });
    case "set_memory_reservation":
      return memory({ reservationBytes: bytes(action.bytes) });
    case "set_memory_high":
      return memory({ highBytes: bytes(action.bytes) });
    case "set_swappiness":
      return memory({ swappiness: action.value });
    case "set_oom_kill_disable":
      return memory({ oomKillDisable: action.disable });
    case "set_cpu_quota":
      return cpu({
        quotaUs: action.quotaUs === "max" ? null : action.quotaUs,
        ...(action.periodUs === undefined ? {} : { periodUs: action.periodUs }),
      });
    case "set_cpu_burst":
      return cpu({ burstUs: action.burstUs });
    case "set_cpu_shares":
      return cpu({ shares: action.shares, ...(s.cpu?.version === 2 ? { weight: sharesToWeight(action.shares) } : {}) });
    case "set_pids_max":
      return s.pids === null ? s : { ...s, pids: { ...s.pids, max: action.max === "max" ? null : action.max } };
    case "set_oom_group":
    case "set_oom_score_adj":
    case "set_cpuset":
    case "set_io_weight":
    case "set_io_throttle":
    case "freeze":
    case "thaw":
    case "kill":
    case "annotate":
      // Not part of the snapshot a policy sees.
      return s;
  }
}

/** The guardrails' running state across a replay: cooldowns and the global token bucket. */
export interface GuardrailSim {
  readonly cooldowns: Map<string, number>;
  bucket: TokenBucket | null;
}

export function startGuardrailSim(settings: GuardrailSettings, firstAt: number): GuardrailSim {
  return {
    cooldowns: new Map(),
    bucket: settings.global.rateLimit === null ? null : fullBucket(settings.global.rateLimit, firstAt),
  };
}

export type SimOutcome =
  | { readonly kind: "applied"; readonly snapshot: CgroupSnapshot }
  | { readonly kind: "dry_run" }
  | { readonly kind: "rejected"; readonly guardrail: string; readonly reason: string };

/**
 * The executor's decision for one proposal, in the executor's order
 * (protected cgroup, version support, value guardrails, cooldown, rate
 * limit; a proposal that passes counts for the cooldown even in dry-run),
 * at the causing event's time. Mutates `sim`.
 */
export function judge(
  proposal: ActionProposal,
  snapshot: CgroupSnapshot,
  settings: GuardrailSettings,
  hostMemoryBytes: number,
  sim: GuardrailSim,
): SimOutcome {
  const { action } = proposal;
  const cfg = guardrailsForPolicy(settings, proposal.policy);
  // The replay has no cgwatch process to protect; the root cgroup stays untouchable.
  const prot = checkProtected(proposal.cgroup, cfg.protectedCgroups, ownProtectedSet([""]));
  if (prot !== null && action.kind !== "annotate") return { kind: "rejected", ...prot };
  const version = versionFor(action, snapshot);
  const files = filesFromSnapshot(snapshot, version);
  const reads = readsFor(action, version);
  // Only plan when the snapshot tells every file the plan reads; otherwise the value guardrails have nothing to measure.
  const planned = reads.every((r) => files.has(r.file)) ? planAction(action, version, files) : null;
  if (planned?.kind === "unsupported") return { kind: "rejected", guardrail: "unsupported", reason: planned.reason };
  if (action.kind !== "annotate") {
    const value = planned === null ? null : checkEffect(planned.effect, cfg, hostMemoryBytes);
    if (value !== null) return { kind: "rejected", ...value };
    const at = proposal.cause.at;
    const emergency = answersStall(proposal);
    const cool = emergency ? null : checkCooldown(sim.cooldowns, proposal.cgroup, action.kind, at, cfg.cooldownMs);
    if (cool !== null) return { kind: "rejected", ...cool };
    const limit = settings.global.rateLimit;
    if (limit !== null && sim.bucket !== null) {
      const taken = takeToken(sim.bucket, limit, at);
      sim.bucket = taken.bucket;
      if (!taken.ok && !emergency) return { kind: "rejected", ...taken.rejection };
    }
    noteCooldown(sim.cooldowns, proposal.cgroup, action.kind, at);
  }
  if (cfg.dryRun && action.kind !== "annotate") return { kind: "dry_run" };
  return { kind: "applied", snapshot: applyToSnapshot(snapshot, action) };
}
