/**
 * The built-in defaults, in the file's own vocabulary ("1s", "512M"), so the
 * same values can be read off config/cgwatch.yaml, docs/config.md and this
 * file; a test proves the shipped YAML compiles to exactly these. Guardrail
 * and sandbox numbers are taken from their owners (actions/, policy/) rather
 * than repeated, so they cannot drift apart.
 */
import { DEFAULT_GUARDRAILS } from "../actions/guardrailConfig.js";
import { DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT } from "../metrics/names.js";
import { DEFAULT_LIMITS } from "../policy/types.js";
import { DEFAULT_IDENTITY_ROOTS } from "../identity/types.js";

/** Where `cgwatch run` looks without --config / CGWATCH_CONFIG. A missing file there means "defaults". */
export const DEFAULT_CONFIG_PATH = "/etc/cgwatch/cgwatch.yaml";

export const DEFAULTS = {
  cgroupRoot: "auto",
  /**
   * Everything, observed only: acting is opt-in (a rule the operator writes
   * acts unless it says `act: false`). The daemon always leaves out its own cgroup.
   */
  watch: [{ pattern: "**", act: false }],
  exclude: [] as string[],
  policies: {
    builtin: true,
    dirs: [] as string[],
    quarantineAfter: DEFAULT_LIMITS.quarantineAfter,
    deadlineMs: DEFAULT_LIMITS.deadlineMs,
    memoryLimitBytes: DEFAULT_LIMITS.memoryBytes,
  },
  guardrails: {
    ...DEFAULT_GUARDRAILS,
    /** PID 1's cgroup: nothing a policy does to it can help. */
    protectedCgroups: ["init.scope"],
  },
  pollIntervalMs: 1000,
  safetyNetIntervalMs: 30_000,
  sampleIntervalMs: 30_000,
  /** systemd-oomd's and the kernel docs' example trigger; cpu and io are opt-in (one more fd per cgroup each). */
  psi: { memory: "some 300ms 2s", cpu: "off", io: "off" },
  /**
   * v1 memory.pressure_level: "medium" (reclaim with swapping or cache
   * thrashing, and critical) says what matters without the tens of wakes per
   * second "low" gives under ordinary reclaim. One eventfd per cgroup.
   */
  v1PressureLevels: ["medium"] as ("low" | "medium" | "critical")[],
  dryRun: false,
  log: { level: "info", format: "auto" },
  /** Two scrapes and an alert's `for` after an OOM-killed container is removed. */
  metrics: { host: DEFAULT_METRICS_HOST, port: DEFAULT_METRICS_PORT, retainRemoved: "5m", gzip: true },
  identity: { roots: DEFAULT_IDENTITY_ROOTS, kmsg: "/dev/kmsg" },
  selfProtection: { oomScoreAdj: -1000 },
} as const;
