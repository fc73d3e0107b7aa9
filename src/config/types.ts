/**
 * What the rest of cgwatch sees of its configuration: one fully defaulted,
 * validated, frozen object with durations in milliseconds and sizes in
 * bytes. Nothing downstream parses "30s" or "512M" or wonders whether a key
 * was set: `loadConfig` (load.ts) is the only producer.
 */
import type { GuardrailSettings } from "../actions/guardrailConfig.js";
import type { ContainerSelector } from "../identity/selector.js";
import type { IdentityRoots } from "../identity/types.js";
import type { V1PressureLevel } from "../events/types.js";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
export const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export type LogFormat = "auto" | "json" | "pretty";
export const LOG_FORMATS: readonly LogFormat[] = ["auto", "json", "pretty"];

/** Where the cgroup hierarchies are: detected from /proc/self/mountinfo, or one given directory. */
export type CgroupRootSetting = { readonly kind: "auto" } | { readonly kind: "path"; readonly path: string };

/**
 * One `watch` entry: a glob relative to each hierarchy root, labels for the
 * cgroups it matches, and whether it opts them in to actions. A cgroup may
 * be acted on when at least one rule matching it has `act: true`; the other
 * watched cgroups are observed only (their proposals end as dry_run with
 * reason observe_only).
 */
export interface WatchRule {
  readonly pattern: string;
  /** Only cgroups that are this container (src/identity/selector.ts); absent: any. */
  readonly container?: ContainerSelector;
  readonly labels: Readonly<Record<string, string>>;
  /** v1 memory.pressure_level registrations for the cgroups it matches; null: the global `v1PressureLevels`. */
  readonly v1PressureLevels: readonly V1PressureLevel[] | null;
  /** May actions be applied to the cgroups it matches (false: observe only). */
  readonly act: boolean;
}

/** A PSI trigger as the kernel takes it: "<some|full> <stall µs> <window µs>". */
export interface PsiTrigger {
  readonly stall: "some" | "full";
  readonly thresholdUs: number;
  readonly windowUs: number;
  /** Exactly what to write into `<resource>.pressure`, e.g. "some 150000 1000000". */
  readonly kernel: string;
}

/**
 * Where /metrics listens. `systemd`: socket activation handed us an
 * already-bound listening socket (cgwatch.socket) as this fd; the
 * configured address is then not used, because the service has no network
 * namespace of its own to bind in.
 */
export type MetricsListen =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "systemd"; readonly fd: number; readonly name: string };

export interface PolicySettings {
  /** Absolute directories, the shipped policies first (unless `policies.builtin: false`). */
  readonly dirs: readonly string[];
  /** Per-policy `ctx.params`, keyed by policy name (merged over the policy's own defaults by policy/). */
  readonly params: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Overrides of each policy's `meta.cooldown`, ms, by policy name (`policies.cooldowns`). */
  readonly cooldownsMs: Readonly<Record<string, number>>;
  /** Policy names that are loaded by `check` but never run. */
  readonly disabled: readonly string[];
  /** Consecutive failed calls that quarantine a policy. */
  readonly quarantineAfter: number;
  /** Budget of one policy call, ms. */
  readonly deadlineMs: number;
  /** Cap of one policy sandbox's memory, bytes. */
  readonly memoryLimitBytes: number;
}

export interface RuntimeConfig {
  readonly cgroupRoot: CgroupRootSetting;
  readonly watch: readonly WatchRule[];
  /** Globs never watched, on top of cgwatch's own cgroup (always excluded by the daemon). */
  readonly exclude: readonly string[];
  readonly policies: PolicySettings;
  /** `global.dryRun` is the top-level `dryRun` (after overrides). */
  readonly guardrails: GuardrailSettings;
  readonly pollIntervalMs: number;
  readonly safetyNetIntervalMs: number;
  /** `sample` events per cgroup, for control-loop policies; only when some policy listens to them. */
  readonly sampleIntervalMs: number;
  readonly psi: {
    readonly memory: PsiTrigger | null;
    readonly cpu: PsiTrigger | null;
    readonly io: PsiTrigger | null;
  };
  /** v1 memory.pressure_level registrations on each watched cgroup, unless its watch rule has its own. */
  readonly v1PressureLevels: readonly V1PressureLevel[];
  readonly dryRun: boolean;
  readonly log: { readonly level: LogLevel; readonly format: LogFormat };
  readonly metrics: {
    readonly listen: MetricsListen;
    /** ms a removed cgroup's series stay exported. */
    readonly retainRemovedMs: number;
    /** gzip the exposition when the scraper accepts it. */
    readonly gzip: boolean;
  };
  readonly identity: {
    readonly roots: IdentityRoots;
    /** Kernel log with OOM reports, or null: no victim attribution. */
    readonly kmsg: string | null;
  };
  readonly selfProtection: { readonly oomScoreAdj: number };
}

/**
 * One problem, located. `file` is the config file's path, or "environment"
 * / "command line" for overrides; `line`/`column` are 1-based and null when
 * there is no position (an override, an unreadable file); `key` is the key
 * path ("guardrails.memory.floor", "watch[2].pattern") or the variable/flag.
 */
export interface ConfigError {
  readonly file: string;
  readonly line: number | null;
  readonly column: number | null;
  readonly key: string;
  readonly message: string;
}

/** Where the configuration came from. */
export type ConfigSource =
  | { readonly kind: "file"; readonly path: string }
  /** The default path did not exist: built-in defaults (plus overrides). */
  | { readonly kind: "defaults"; readonly path: string };

export type LoadResult =
  | {
      readonly kind: "ok";
      readonly config: RuntimeConfig;
      readonly source: ConfigSource;
      /**
       * A located error for a key of this file, for checks only a later stage
       * can make (e.g. `policies.params.foo` names no compiled policy), so
       * that `cgwatch check` reports them as file:line too.
       */
      readonly errorAt: (key: readonly (string | number)[], message: string) => ConfigError;
    }
  | { readonly kind: "error"; readonly errors: readonly ConfigError[] };
