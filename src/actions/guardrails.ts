/**
 * Guardrails: each a pure function of the proposal's effect, the config and
 * (for cooldown and the rate limit) a state and the time from an injected
 * clock. Each returns null (pass) or a rejection naming itself, so the log
 * says which rule stopped an action and why.
 */
import { selfAndAncestors } from "../cgroup/paths.js";
import type { CpuGuardrails, GuardrailConfig, MemoryGuardrails, RateLimitConfig } from "./guardrailConfig.js";
import type { Effect } from "./plan.js";

export type GuardrailName =
  | "invalid_action"
  | "unsupported"
  | "protected_cgroup"
  | "memory_ceiling"
  | "memory_floor"
  | "memory_step"
  | "below_usage"
  | "cpu_quota_bounds"
  | "cpu_step"
  | "cooldown"
  | "rate_limit";

export interface Rejection {
  readonly guardrail: GuardrailName;
  readonly reason: string;
}

const reject = (guardrail: GuardrailName, reason: string): Rejection => ({ guardrail, reason });

const fmtBytes = (b: number | null): string =>
  b === null ? "max" : `${b} bytes (${(b / 1024 / 1024).toFixed(1)} MiB)`;
const fmtCores = (c: number | null): string => (c === null ? "unlimited" : `${+c.toFixed(4)} cores`);

/**
 * cgwatch's own cgroups (one per hierarchy, from /proc/self/cgroup) and all
 * their ancestors, "" (the root) included: acting on any of them could
 * throttle, freeze or kill cgwatch itself.
 */
export function ownProtectedSet(ownCgroups: readonly string[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const c of ownCgroups) for (const a of selfAndAncestors(c)) out.add(a);
  return out;
}

/** `cgroup` is normalised. Config entries: "a/b" exactly, "a/b/**" the subtree (a/b included). */
export function checkProtected(
  cgroup: string,
  configured: readonly string[],
  own: ReadonlySet<string>,
): Rejection | null {
  if (own.has(cgroup)) {
    return reject(
      "protected_cgroup",
      cgroup === "" ? "the root cgroup is never touched" : `${cgroup} is cgwatch's own cgroup or one of its ancestors`,
    );
  }
  for (const raw of configured) {
    const entry = raw.replace(/^\/+|\/+$/g, "");
    if (entry.endsWith("/**") || entry === "**") {
      const base = entry === "**" ? "" : entry.slice(0, -3);
      if (base === "" || cgroup === base || cgroup.startsWith(`${base}/`))
        return reject("protected_cgroup", `${cgroup} is protected by "${raw}"`);
    } else if (cgroup === entry) {
      return reject("protected_cgroup", `${cgroup} is protected by "${raw}"`);
    }
  }
  return null;
}

/** The lower of the fractional and absolute ceilings; null = none. */
export function memoryCeiling(cfg: MemoryGuardrails, hostMemoryBytes: number): number | null {
  const frac = cfg.ceilingFractionOfHost === null ? null : Math.floor(cfg.ceilingFractionOfHost * hostMemoryBytes);
  if (frac === null) return cfg.ceilingBytes;
  return cfg.ceilingBytes === null ? frac : Math.min(frac, cfg.ceilingBytes);
}

export function checkMemoryCeiling(
  to: number | null,
  cfg: MemoryGuardrails,
  hostMemoryBytes: number,
): Rejection | null {
  const ceiling = memoryCeiling(cfg, hostMemoryBytes);
  if (ceiling === null) return null;
  if (to === null || to > ceiling)
    return reject("memory_ceiling", `${fmtBytes(to)} is above the ceiling ${fmtBytes(ceiling)}`);
  return null;
}

export function checkMemoryFloor(to: number | null, cfg: MemoryGuardrails): Rejection | null {
  if (cfg.floorBytes === null || to === null) return null;
  return to < cfg.floorBytes
    ? reject("memory_floor", `${fmtBytes(to)} is below the floor ${fmtBytes(cfg.floorBytes)}`)
    : null;
}

/** |to - from| <= max(fraction × from, bytes). From unlimited, there is no step to measure. */
export function checkMemoryStep(from: number | null, to: number | null, cfg: MemoryGuardrails): Rejection | null {
  if (cfg.maxStepFraction === null && cfg.maxStepBytes === null) return null;
  if (from === null) return null;
  const allowed = Math.max(
    cfg.maxStepFraction === null ? 0 : Math.floor(cfg.maxStepFraction * from),
    cfg.maxStepBytes ?? 0,
  );
  if (to === null)
    return reject(
      "memory_step",
      `removing the limit (${fmtBytes(from)} → max) exceeds the maximum step ${fmtBytes(allowed)}`,
    );
  const step = Math.abs(to - from);
  return step > allowed
    ? reject(
        "memory_step",
        `${fmtBytes(from)} → ${fmtBytes(to)} moves ${step} bytes, more than the maximum step ${fmtBytes(allowed)}`,
      )
    : null;
}

/** Never lower a limit below what the cgroup uses now, unless the action says so. Raising is always fine. */
export function checkBelowUsage(
  from: number | null,
  to: number | null,
  usage: number | null,
  allowBelowUsage: boolean,
): Rejection | null {
  if (allowBelowUsage || to === null) return null;
  const lowering = from === null || to < from;
  if (!lowering) return null;
  if (usage === null)
    return reject(
      "below_usage",
      `lowering to ${fmtBytes(to)} but current usage could not be read (set allowBelowUsage to force)`,
    );
  return to < usage
    ? reject("below_usage", `${fmtBytes(to)} is below current usage ${fmtBytes(usage)} (set allowBelowUsage to force)`)
    : null;
}

export function checkCpuBounds(toCores: number | null, cfg: CpuGuardrails): Rejection | null {
  if (cfg.maxCores !== null && (toCores === null || toCores > cfg.maxCores)) {
    return reject("cpu_quota_bounds", `${fmtCores(toCores)} is above the maximum ${fmtCores(cfg.maxCores)}`);
  }
  if (cfg.minCores !== null && toCores !== null && toCores < cfg.minCores) {
    return reject("cpu_quota_bounds", `${fmtCores(toCores)} is below the minimum ${fmtCores(cfg.minCores)}`);
  }
  return null;
}

/** new/current in [1/f, f]. From unlimited there is no factor to measure. */
export function checkCpuStep(fromCores: number | null, toCores: number | null, cfg: CpuGuardrails): Rejection | null {
  const f = cfg.maxStepFactor;
  if (f === null || fromCores === null) return null;
  if (toCores === null)
    return reject(
      "cpu_step",
      `removing the quota (${fmtCores(fromCores)} → unlimited) exceeds the maximum factor ${f}`,
    );
  // Compare by multiplication so that exact boundaries are not lost to division.
  if (toCores > fromCores * f || toCores * f < fromCores) {
    return reject("cpu_step", `${fmtCores(fromCores)} → ${fmtCores(toCores)} changes by more than a factor of ${f}`);
  }
  return null;
}

/** The value guardrails for an effect, in a fixed order (first failure wins). */
export function checkEffect(effect: Effect, cfg: GuardrailConfig, hostMemoryBytes: number): Rejection | null {
  switch (effect.kind) {
    case "none":
      return null;
    case "memory": {
      const { from, to } = effect;
      const lowersLimit = effect.field !== "reservation";
      return (
        checkMemoryCeiling(to, cfg.memory, hostMemoryBytes) ??
        (lowersLimit ? checkMemoryFloor(to, cfg.memory) : null) ??
        (lowersLimit ? checkBelowUsage(from, to, effect.usage, effect.allowBelowUsage) : null) ??
        (lowersLimit ? checkMemoryStep(from, to, cfg.memory) : null)
      );
    }
    case "cpu_quota":
      return checkCpuBounds(effect.toCores, cfg.cpu) ?? checkCpuStep(effect.fromCores, effect.toCores, cfg.cpu);
  }
}

/** Last time (clock ms) an action of a kind went through for a cgroup. */
export type CooldownState = ReadonlyMap<string, number>;

export const cooldownKey = (cgroup: string, kind: string): string => `${cgroup}\u0000${kind}`;

export function checkCooldown(
  state: CooldownState,
  cgroup: string,
  kind: string,
  now: number,
  cooldownMs: number,
): Rejection | null {
  const last = state.get(cooldownKey(cgroup, kind));
  if (last === undefined || cooldownMs <= 0) return null;
  const elapsed = now - last;
  return elapsed < cooldownMs
    ? reject(
        "cooldown",
        `${kind} on ${cgroup === "" ? "/" : cgroup} went through ${elapsed} ms ago; cooldown is ${cooldownMs} ms`,
      )
    : null;
}

/** A new state with the attempt recorded; `state` is left as it was. O(cooldowns held): for tests and one-off use. */
export function recordCooldown(state: CooldownState, cgroup: string, kind: string, now: number): Map<string, number> {
  const next = new Map(state);
  noteCooldown(next, cgroup, kind, now);
  return next;
}

/**
 * Records the attempt in place, O(1). For the one owner of a running state
 * (the executor's admission, a replay's simulation): copying the whole map on
 * every action, as recordCooldown does, costs O(number of cgroups) per action.
 */
export function noteCooldown(state: Map<string, number>, cgroup: string, kind: string, now: number): void {
  state.set(cooldownKey(cgroup, kind), now);
}

/** Token bucket. `tokens` as of clock time `at`. */
/**
 * Whether a proposal answers a stall under OOM (its cause is an emergency:
 * events/types `isEmergency`). Neither a cooldown nor an empty rate-limit
 * bucket holds such an answer back: the stalled tasks wait for it, and a
 * host's worth of routine proposals (a sample pass of a sampling policy at
 * 10,000 cgroups) would otherwise take every token as it refills. The
 * value guardrails (ceiling, step, floor) still apply, and the answer takes
 * a token when there is one, so it still paces what follows.
 */
export function answersStall(proposal: { readonly cause: { readonly emergency?: boolean } }): boolean {
  return proposal.cause.emergency === true;
}

export interface TokenBucket {
  readonly tokens: number;
  readonly at: number;
}

export const fullBucket = (cfg: RateLimitConfig, now: number): TokenBucket => ({ tokens: cfg.burst, at: now });

/** Refills for the time elapsed (perMinute tokens per 60 000 ms, capped at burst) and takes one token if there is one. */
export function takeToken(
  bucket: TokenBucket,
  cfg: RateLimitConfig,
  now: number,
):
  | { readonly ok: true; readonly bucket: TokenBucket }
  | { readonly ok: false; readonly bucket: TokenBucket; readonly rejection: Rejection } {
  const elapsed = Math.max(0, now - bucket.at);
  // elapsed × perMinute / 60000 keeps whole-token boundaries exact in floating point.
  const tokens = Math.min(cfg.burst, bucket.tokens + (elapsed * cfg.perMinute) / 60_000);
  if (tokens >= 1) return { ok: true, bucket: { tokens: tokens - 1, at: now } };
  const waitMs = Math.ceil(((1 - tokens) * 60_000) / cfg.perMinute);
  return {
    ok: false,
    bucket: { tokens, at: now },
    rejection: reject(
      "rate_limit",
      `global rate limit of ${cfg.perMinute}/min (burst ${cfg.burst}) reached; next action possible in ${waitMs} ms`,
    ),
  };
}
