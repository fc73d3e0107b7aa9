/**
 * The config file's schema: what a user may write. Every key is optional
 * (compile.ts supplies the defaults) and every object is strict, so a typo
 * is an error with a line rather than a silently ignored setting. Values
 * are validated here with the same parsers compile.ts uses to convert them,
 * so a document this schema accepts always compiles.
 *
 * Uses zod's v4 API (shipped inside the zod 3.25 package as "zod/v4") for
 * its JSON Schema generator: config/cgwatch.schema.json is generated from
 * this file (jsonSchema.ts) and a test keeps the two identical. The
 * `.meta({ pattern })` hints are for editors only; zod checks the same
 * values with the real parsers in `superRefine`.
 */
import { z } from "zod/v4";
import { parseDuration, parseSize } from "../cgroup/parse.js";
import { CgroupPathError, normaliseCgroupPath } from "../cgroup/paths.js";
import { MIN_MEMORY_BYTES } from "../policy/types.js";
import { parseListen } from "./listen.js";
import { parsePsiTrigger } from "./psi.js";
import { LOG_FORMATS, LOG_LEVELS } from "./types.js";
import { ENGINES, type Engine } from "../identity/types.js";

/** Editor hints mirroring parseSize / parseDuration / parsePsiTrigger (kept honest by the agreement test). */
export const SIZE_PATTERN = "^\\s*[0-9]+(\\.[0-9]+)?\\s*([kKmMgGtTpP]([iI]?[bB])?|[bB])?\\s*$";
export const DURATION_PATTERN = "^\\s*[0-9]+(\\.[0-9]+)?\\s*(us|ms|s|m|h)\\s*$";
const PSI_TOKEN = "([0-9]+|[0-9]+(\\.[0-9]+)?(us|ms|s|m|h))";
export const PSI_PATTERN = `^\\s*(off|(some|full)\\s+${PSI_TOKEN}\\s+${PSI_TOKEN})\\s*$`;

const size = (what: string, minBytes = 0, minText = "") =>
  z
    .union(
      [
        z.string().meta({ pattern: SIZE_PATTERN }),
        z
          .number()
          .int({ error: "a size in bytes must be a whole number" })
          .min(0, { error: "a size cannot be negative" }),
      ],
      { error: `expected ${what}: a number of bytes or a size like "512M", "2g", "64k"` },
    )
    .superRefine((v, ctx) => {
      const r = parseSize(v);
      if (r.kind === "malformed") ctx.addIssue({ code: "custom", message: r.reason });
      else if (r.value < minBytes)
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is below the minimum ${minText}` });
    })
    .describe(`${what}: bytes, or a number with k/M/g/t (powers of 1024)`);

const duration = (what: string, minMs: number, maxMs: number) =>
  z
    .union([z.string().meta({ pattern: DURATION_PATTERN }), z.number().min(0)], {
      error: `expected ${what}: a duration like "250ms", "1s", "5m" (a bare number is milliseconds)`,
    })
    .superRefine((v, ctx) => {
      const r = parseDuration(v);
      if (r.kind === "malformed") ctx.addIssue({ code: "custom", message: r.reason });
      else if (r.value < minMs || r.value > maxMs)
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is outside ${fmtMs(minMs)}..${fmtMs(maxMs)}` });
    })
    .describe(`${what}: "250ms", "1s", "5m", "1h" or milliseconds; ${fmtMs(minMs)}..${fmtMs(maxMs)}`);

function fmtMs(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const cgroupGlob = (what: string) =>
  z
    .string({ error: `expected ${what}: a glob string` })
    .min(1)
    .superRefine((v, ctx) => {
      try {
        normaliseCgroupPath(v);
      } catch (e) {
        if (e instanceof CgroupPathError) ctx.addIssue({ code: "custom", message: e.message });
        else throw e;
      }
    })
    .describe(`${what}: a glob relative to each hierarchy root ("*" one segment, "**" any depth)`);

const psi = (resource: string) =>
  z
    .union([z.string().meta({ pattern: PSI_PATTERN }), z.null()], {
      error: `expected a PSI trigger like "some 150ms 1s", or "off"`,
    })
    .superRefine((v, ctx) => {
      if (v === null) return;
      const r = parsePsiTrigger(v);
      if (r.kind === "invalid") ctx.addIssue({ code: "custom", message: r.reason });
    })
    .describe(
      `${resource} PSI trigger "<some|full> <stall> <window>" (window 500ms..10s, stall <= window), or "off"/null`,
    );

/** Prometheus label names; "__" is reserved for Prometheus itself. */
const LABEL_NAME = "^[a-zA-Z_][a-zA-Z0-9_]*$";
const labels = z
  .record(
    z
      .string()
      .regex(new RegExp(LABEL_NAME), { error: "label names must match [a-zA-Z_][a-zA-Z0-9_]*" })
      .refine((k) => !k.startsWith("__"), { error: 'label names starting with "__" are reserved' }),
    z.string({ error: "label values must be strings" }),
  )
  .describe("Prometheus labels added to every metric of the matched cgroups");

const selectorGlob = (what: string) =>
  z
    .string({ error: `expected ${what}: a glob string` })
    .min(1)
    .describe(`${what} glob ("*" any run of characters, "?" one)`);
const containerSelector = z
  .object({
    engine: z
      .enum(ENGINES as [Engine, ...Engine[]])
      .optional()
      .describe("Container engine the cgroup belongs to"),
    name: selectorGlob("container name").optional(),
    image: selectorGlob("image").optional(),
    pod: selectorGlob("Kubernetes pod name").optional(),
    namespace: selectorGlob("Kubernetes namespace").optional(),
    labels: z
      .record(z.string().min(1), z.string())
      .optional()
      .describe("Engine labels (Docker labels, Kubernetes labels via CRI-O) and value globs"),
  })
  .strict()
  .refine((o) => Object.keys(o).length > 0, {
    error: "an empty container selector matches everything; give engine, name, image, pod, namespace or labels",
  })
  .describe("Match by who the cgroup is (engine metadata, see docs/config.md#identity); every given field must match");
const pressureLevels = z
  .array(z.enum(["low", "medium", "critical"], { error: 'expected a pressure level: "low", "medium" or "critical"' }))
  .describe(
    "v1 memory.pressure_level registrations (one eventfd per level and cgroup; each fires at its level or higher); [] for none",
  );

const watchEntry = z.union(
  [
    cgroupGlob("watch pattern"),
    z
      .object({
        pattern: cgroupGlob("watch pattern").optional(),
        container: containerSelector.optional(),
        labels: labels.optional(),
        v1PressureLevels: pressureLevels
          .optional()
          .describe(
            "v1 memory.pressure_level registrations for the cgroups this rule matches, instead of the global v1PressureLevels (a later matching rule wins); [] for none",
          ),
        act: z
          .boolean({ error: "act must be true or false" })
          .optional()
          .describe(
            'May policies\' actions be applied to the cgroups this rule matches? Default true; false: observe only (metrics, events, logs and "would have" decisions with reason observe_only)',
          ),
      })
      .strict()
      .refine((o) => o.pattern !== undefined || o.container !== undefined, {
        error: "a watch rule needs a pattern, a container selector, or both",
      }),
  ],
  {
    error:
      'expected a glob string or {pattern: "...", container: {...}, labels: {...}, act: true|false, v1PressureLevels: [...]}',
  },
);

const fraction = z.number().gt(0).lte(1);

const memoryGuardrails = z
  .object({
    ceilingFractionOfHost: fraction
      .nullable()
      .optional()
      .describe("A memory limit may not exceed this fraction of host memory (0 < f <= 1); null: no such ceiling"),
    ceiling: size("absolute memory ceiling")
      .nullable()
      .optional()
      .describe("Absolute memory ceiling; the lower of the two ceilings applies; null: none"),
    floor: size("memory floor")
      .nullable()
      .optional()
      .describe("A memory limit or memory.high may never go below this; null: none"),
    maxStepPercent: z
      .number()
      .gt(0)
      .nullable()
      .optional()
      .describe(
        "One action may change a limit by at most this percent of its current value (or maxStep, whichever is more); null: no percent step",
      ),
    maxStep: size("maximum step")
      .nullable()
      .optional()
      .describe(
        "One action may change a limit by at most this many bytes (or maxStepPercent, whichever is more); null: no byte step",
      ),
  })
  .strict();

const cpuGuardrails = z
  .object({
    minCores: z
      .number()
      .gt(0)
      .nullable()
      .optional()
      .describe("A CPU quota may not go below this many cores; null: no floor"),
    maxCores: z
      .number()
      .gt(0)
      .nullable()
      .optional()
      .describe("A CPU quota may not exceed this many cores; null: no ceiling"),
    maxStepFactor: z
      .number()
      .gte(1)
      .nullable()
      .optional()
      .describe("A quota may change by at most this factor per action (new/current in [1/f, f]); null: unbounded"),
  })
  .strict();

const protectedList = z
  .array(cgroupGlob("protected cgroup"))
  .describe('cgroups never acted on: "a/b" exactly, "a/b/**" the subtree');

const perPolicyGuardrails = z
  .object({
    dryRun: z.boolean().optional().describe("Dry-run this policy only"),
    memory: memoryGuardrails.optional(),
    cpu: cpuGuardrails.optional(),
    cooldown: duration("cooldown", 0, 86_400_000).optional(),
    protected: protectedList.optional().describe("Added to the global list; a policy can never unprotect"),
  })
  .strict();

const guardrails = z
  .object({
    memory: memoryGuardrails.optional(),
    cpu: cpuGuardrails.optional(),
    cooldown: duration("cooldown", 0, 86_400_000)
      .optional()
      .describe("Minimum time between two actions of the same kind on the same cgroup"),
    rateLimit: z
      .object({
        perMinute: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe("Sustained actions per minute over all cgroups and policies"),
        burst: z.number().int().min(1).optional().describe("Actions allowed at once after a quiet spell"),
      })
      .strict()
      .nullable()
      .optional()
      .describe("Global token bucket; null: unlimited"),
    protected: protectedList.optional(),
    perPolicy: z.record(z.string().min(1), perPolicyGuardrails).optional().describe("Overrides by policy name"),
  })
  .strict();

const policies = z
  .object({
    builtin: z
      .boolean()
      .optional()
      .describe("Load the policies shipped with cgwatch (first, so a same-named file in dirs is a duplicate error)"),
    dirs: z
      .array(z.string().min(1))
      .optional()
      .describe("Extra policy directories; relative paths are relative to this file"),
    params: z
      .record(z.string().min(1), z.record(z.string(), z.unknown()))
      .optional()
      .describe("ctx.params for each policy, by policy name"),
    cooldowns: z
      .record(z.string().min(1), duration("policy cooldown", 0, 86_400_000))
      .optional()
      .describe(
        "Overrides each policy's meta.cooldown, by policy name: after a policy proposed actions for a cgroup, how long its other events for that cgroup are skipped (a stall under OOM never is)",
      ),
    disabled: z
      .array(z.string().min(1))
      .optional()
      .describe("Policy names that are compiled by `cgwatch check` but never run"),
    quarantineAfter: z.number().int().min(1).optional().describe("Consecutive failed calls that quarantine a policy"),
    deadline: duration("policy deadline", 1, 10_000).optional().describe("Budget of one policy call"),
    memoryLimit: size("policy memory limit", MIN_MEMORY_BYTES, "16M (the QuickJS sandbox's initial memory)")
      .optional()
      .describe("Memory cap of each policy's sandbox, at least 16M"),
  })
  .strict();

export const configFileSchema = z
  .object({
    cgroupRoot: z
      .string({ error: 'expected "auto" or an absolute path' })
      .refine((v) => v === "auto" || v.startsWith("/"), { error: 'expected "auto" or an absolute path' })
      .optional()
      .describe('"auto": detect v1/v2/hybrid hierarchies from /proc/self/mountinfo; or the cgroupfs mount point'),
    watch: z.array(watchEntry).optional().describe("cgroups to watch, as globs relative to each hierarchy root"),
    exclude: z
      .array(cgroupGlob("exclude pattern"))
      .optional()
      .describe("cgroups never watched (cgwatch's own cgroup always is)"),
    policies: policies.optional(),
    guardrails: guardrails.optional(),
    pollInterval: duration("poll interval", 10, 3_600_000)
      .optional()
      .describe("How often cpu.stat (and anything without a kernel notification) is polled"),
    safetyNetInterval: duration("safety-net interval", 1000, 3_600_000)
      .optional()
      .describe(
        "How often every notified file is re-read anyway, to catch notifications the kernel merged or never sent",
      ),
    sampleInterval: duration("sample interval", 1000, 3_600_000)
      .optional()
      .describe("How often control-loop policies (those listening to `sample`) get a sample of each cgroup"),
    psi: z
      .object({ memory: psi("memory").optional(), cpu: psi("cpu").optional(), io: psi("io").optional() })
      .strict()
      .optional(),
    v1PressureLevels: pressureLevels
      .optional()
      .describe(
        "v1 memory.pressure_level registrations on every watched cgroup (eventfd; memory_pressure events), unless a watch rule says otherwise; [] for none",
      ),
    dryRun: z.boolean().optional().describe("Log and count every action, write nothing"),
    log: z
      .object({
        level: z.enum(LOG_LEVELS as [string, ...string[]]).optional(),
        format: z
          .enum(LOG_FORMATS as [string, ...string[]])
          .optional()
          .describe(
            "auto: pretty on a terminal, JSON otherwise; json: one JSON object per line (journald, Loki); pretty: human-readable lines",
          ),
      })
      .strict()
      .optional(),
    metrics: z
      .object({
        listen: z
          .string({ error: "expected host:port" })
          .superRefine((v, ctx) => {
            const r = parseListen(v);
            if (r.kind === "invalid") ctx.addIssue({ code: "custom", message: r.reason });
          })
          .optional()
          .describe("host:port of /metrics; under systemd the socket from cgwatch.socket is used instead"),
        retainRemoved: duration("retention of removed cgroups", 0, 86_400_000)
          .optional()
          .describe(
            "How long a removed cgroup's last counters and identity stay exported (an OOM-killed and removed container still alerts); 0: drop at once",
          ),
        gzip: z
          .boolean({ error: "expected true or false" })
          .optional()
          .describe(
            "gzip /metrics when the scraper accepts it (Prometheus does). Default true; false saves the compression's CPU (0.5-1.5 s per scrape at 10,000 cgroups) where the scrape stays on the host or the network is cheap",
          ),
      })
      .strict()
      .optional(),
    identity: z
      .object({
        roots: z
          .object({
            docker: z
              .array(z.string().min(1))
              .optional()
              .describe("Docker data roots (<root>/containers/<id>/config.v2.json)"),
            podman: z
              .array(z.string().min(1))
              .optional()
              .describe("containers/storage graph roots of podman (<root>/<driver>-containers/containers.json)"),
            containerd: z
              .array(z.string().min(1))
              .optional()
              .describe("containerd state dirs (<root>/io.containerd.runtime.v2.task/<ns>/<id>/config.json)"),
            crio: z
              .array(z.string().min(1))
              .optional()
              .describe("CRI-O storage roots (<root>/<driver>-containers/<id>/userdata/config.json)"),
          })
          .strict()
          .optional()
          .describe("Where each engine keeps its metadata on disk (read-only)"),
        kmsg: z
          .union([z.string().min(1), z.literal(false)])
          .optional()
          .describe("Kernel log to read OOM reports from (victim pid, name, rss); false: none"),
      })
      .strict()
      .optional()
      .describe("Container identity (engine, name, image, pod) and OOM victim attribution"),
    selfProtection: z
      .object({
        oomScoreAdj: z
          .number()
          .int()
          .min(-1000)
          .max(1000)
          .optional()
          .describe("oom_score_adj cgwatch sets on itself at start (-1000: never OOM-killed)"),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof configFileSchema>;
export type ConfigFileInput = z.input<typeof configFileSchema>;
