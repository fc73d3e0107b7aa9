/**
 * Guardrail settings: the limits every proposal must pass before cgwatch
 * writes anything. Plain data (bytes as numbers, durations in ms) so the
 * config loader can map YAML onto it and tests can build it inline; `null`
 * switches a bound off. Per-policy overrides can tighten or loosen a value,
 * but protected cgroups only ever add up: a policy cannot unprotect.
 */

export interface MemoryGuardrails {
  /** A memory limit/high/reservation may not exceed this fraction of host MemTotal (0 < f <= 1). */
  readonly ceilingFractionOfHost: number | null;
  /** Absolute ceiling in bytes; the lower of the two ceilings applies. */
  readonly ceilingBytes: number | null;
  /** A memory limit or high may not go below this many bytes. */
  readonly floorBytes: number | null;
  /**
   * Maximum change per action, either way: |new - current| may not exceed
   * max(maxStepFraction × current, maxStepBytes). Both null: no step limit.
   * "Either" so that small cgroups can still move by a useful absolute step.
   */
  readonly maxStepFraction: number | null;
  readonly maxStepBytes: number | null;
}

export interface CpuGuardrails {
  /** quota/period in cores: a quota may not set fewer than minCores nor more than maxCores ("max" = unbounded exceeds any maxCores). */
  readonly minCores: number | null;
  readonly maxCores: number | null;
  /** new/current quota (in cores) must lie in [1/f, f]. */
  readonly maxStepFactor: number | null;
}

export interface RateLimitConfig {
  /** Sustained actions per minute, over all cgroups and policies. */
  readonly perMinute: number;
  /** Bucket capacity: how many actions may go at once after a quiet spell. */
  readonly burst: number;
}

export interface GuardrailConfig {
  /** Log and count what would be written; change nothing. */
  readonly dryRun: boolean;
  readonly memory: MemoryGuardrails;
  readonly cpu: CpuGuardrails;
  /** Minimum time between two actions of the same kind on the same cgroup (any policy). */
  readonly cooldownMs: number;
  /** Global token bucket; null = unlimited. Per-policy overrides of it are ignored: it is global by definition. */
  readonly rateLimit: RateLimitConfig | null;
  /**
   * cgroups never touched: "a/b" protects exactly a/b, "a/b/**" the subtree.
   * cgwatch's own cgroups and all their ancestors are always added.
   */
  readonly protectedCgroups: readonly string[];
}

export interface GuardrailOverrides {
  readonly dryRun?: boolean;
  readonly memory?: Partial<MemoryGuardrails>;
  readonly cpu?: Partial<CpuGuardrails>;
  readonly cooldownMs?: number;
  readonly protectedCgroups?: readonly string[];
}

export interface GuardrailSettings {
  readonly global: GuardrailConfig;
  /** Keyed by policy name. */
  readonly perPolicy?: Readonly<Record<string, GuardrailOverrides>>;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * Defaults chosen for unattended rescue: a limit may double (or grow by
 * 1 GiB, whichever is more) per action, never beyond 90% of the host, never
 * below 16 MiB; quotas stay within [0.01, host-ish] cores and change by at
 * most ×4; 30 s cooldown; 60 actions/min with bursts of 10.
 */
export const DEFAULT_GUARDRAILS: GuardrailConfig = {
  dryRun: false,
  memory: {
    ceilingFractionOfHost: 0.9,
    ceilingBytes: null,
    floorBytes: 16 * MiB,
    maxStepFraction: 1,
    maxStepBytes: GiB,
  },
  cpu: { minCores: 0.01, maxCores: null, maxStepFactor: 4 },
  cooldownMs: 30_000,
  rateLimit: { perMinute: 60, burst: 10 },
  protectedCgroups: [],
};

/** The effective config for one policy: global values, overridden field by field; protected lists unioned. */
export function guardrailsForPolicy(settings: GuardrailSettings, policy: string): GuardrailConfig {
  const g = settings.global;
  const o = settings.perPolicy?.[policy];
  if (o === undefined) return g;
  return {
    dryRun: o.dryRun ?? g.dryRun,
    memory: { ...g.memory, ...o.memory },
    cpu: { ...g.cpu, ...o.cpu },
    cooldownMs: o.cooldownMs ?? g.cooldownMs,
    rateLimit: g.rateLimit,
    protectedCgroups: [...g.protectedCgroups, ...(o.protectedCgroups ?? [])],
  };
}
