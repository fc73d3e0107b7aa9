/**
 * `cgwatch policy test POLICY --events FILE`: replay a recorded trace against
 * one policy and print what it would do, the way `opa test` serves OPA
 * authors. The trace is JSON lines: `{event, snapshot}` records as
 * `cgwatch run --record FILE` writes them, or bare `WatchdogEvent`s (their
 * snapshot then comes from `--snapshot` or the cgroup's previous line).
 * Each proposal goes through the guardrails (actions/simulate.ts, the
 * executor's own checks) on the trace's own clock (`event.at`), and an
 * applied one changes the snapshot the cgroup's next event sees, so a ramp
 * replays. A bad line is reported and skipped; an event the policy listens
 * to but that has no snapshot is reported as not evaluated; both make the
 * exit code 1, so a replay never passes silently.
 */
import fs from "node:fs";
import os from "node:os";
import { pino } from "pino";
import { judge, startGuardrailSim, type GuardrailSim, type SimOutcome } from "../actions/simulate.js";
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import { formatConfigError } from "../config/format.js";
import { loadConfig } from "../config/load.js";
import type { RuntimeConfig } from "../config/types.js";
import { isEventKind, type WatchdogEvent } from "../events/types.js";
import { compilePolicies } from "./compile.js";
import { createPolicyEngine, type PolicyEngine, type PolicyEvaluation } from "./engine.js";
import { checkSnapshot } from "./traceSnapshot.js";
import type { PolicyLimits } from "./types.js";

export interface PolicyTestOptions {
  readonly policyFile: string;
  readonly eventsFile: string;
  /** ctx.params overrides (over the config's, over meta.params). */
  readonly params?: Readonly<Record<string, unknown>>;
  /** A JSON snapshot file: one `CgroupSnapshot`, or an object of cgroup path → snapshot; the starting state of cgroups whose lines carry none. */
  readonly snapshotFile?: string;
  /** A cgwatch config: its guardrails and `policies.params` apply (default: the built-in defaults). */
  readonly configFile?: string;
  /** MemTotal for the memory ceiling guardrail (default: this machine's). */
  readonly hostMemoryBytes?: number;
  readonly limits?: Partial<PolicyLimits>;
}

export interface PolicyTestResult {
  readonly lines: string[];
  /** 0 all fine; 1 a call failed, a line was bad, or an event the policy listens to could not be evaluated; 2 the policy or an input file could not be loaded. */
  readonly exitCode: 0 | 1 | 2;
}

type SnapshotSource =
  | { readonly kind: "none" }
  | { readonly kind: "one"; readonly snapshot: CgroupSnapshot }
  | { readonly kind: "byPath"; readonly map: ReadonlyMap<string, CgroupSnapshot> };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function snapshotFor(src: SnapshotSource, cgroup: string): CgroupSnapshot | null {
  switch (src.kind) {
    case "none":
      return null;
    case "one":
      return { ...src.snapshot, path: cgroup };
    case "byPath":
      return src.map.get(cgroup) ?? null;
  }
}

/** The --snapshot file: one snapshot (it has a snapshot's keys) or a map of cgroup → snapshot; every one checked. */
function readSnapshotFile(file: string): { kind: "ok"; source: SnapshotSource } | { kind: "error"; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    return { kind: "error", reason: `${file}: cannot read snapshot: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isRecord(parsed))
    return {
      kind: "error",
      reason: `${file}: a snapshot file must be a JSON object (one snapshot, or cgroup path → snapshot)`,
    };
  if (["path", "labels", "memory", "cpu", "pids"].some((k) => k in parsed)) {
    const one = checkSnapshot(parsed, `${file}: snapshot`, "");
    return one.kind === "ok"
      ? { kind: "ok", source: { kind: "one", snapshot: one.snapshot } }
      : { kind: "error", reason: one.reason };
  }
  const map = new Map<string, CgroupSnapshot>();
  for (const [cgroup, raw] of Object.entries(parsed)) {
    const one = checkSnapshot(raw, `${file}: snapshot of ${JSON.stringify(cgroup)}`, cgroup);
    if (one.kind === "invalid") return { kind: "error", reason: one.reason };
    map.set(cgroup, one.snapshot);
  }
  return { kind: "ok", source: { kind: "byPath", map } };
}

/** One trace line → event (+ snapshot), or why not. Missing `at`/`source` are filled so hand-written traces stay short. */
export function parseTraceLine(
  text: string,
  lineNo: number,
):
  | { kind: "event"; event: WatchdogEvent; snapshot: CgroupSnapshot | null }
  | { kind: "skip" }
  | { kind: "bad"; reason: string } {
  if (text.trim() === "") return { kind: "skip" };
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch (e) {
    return { kind: "bad", reason: `invalid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isRecord(rec)) return { kind: "bad", reason: "not a JSON object" };
  const raw = isRecord(rec.event) ? rec.event : rec;
  if (typeof raw.kind !== "string" || !isEventKind(raw.kind))
    return { kind: "bad", reason: `unknown event kind ${JSON.stringify(raw.kind)}` };
  if (typeof raw.cgroup !== "string") return { kind: "bad", reason: "event has no cgroup" };
  let snapshot: CgroupSnapshot | null = null;
  if (isRecord(rec.event) && rec.snapshot !== undefined && rec.snapshot !== null) {
    const checked = checkSnapshot(rec.snapshot, "snapshot", raw.cgroup);
    if (checked.kind === "invalid") return { kind: "bad", reason: checked.reason };
    snapshot = checked.snapshot;
  }
  const event = {
    ...raw,
    at: typeof raw.at === "number" ? raw.at : lineNo * 1000,
    source: typeof raw.source === "string" ? raw.source : "poll",
  };
  // The kind, cgroup, at and source were checked; kind-specific fields are the policy's to read.
  return { kind: "event", event: event as unknown as WatchdogEvent, snapshot };
}

function describeAction(action: Readonly<Record<string, unknown>>): string {
  const { kind, ...rest } = action;
  return Object.keys(rest).length === 0 ? String(kind) : `${String(kind)} ${JSON.stringify(rest)}`;
}

function describeOutcome(o: SimOutcome): string {
  switch (o.kind) {
    case "applied":
      return "  → applied (simulated: the next event of this cgroup sees it)";
    case "dry_run":
      return "  → dry_run (guardrails passed; dry-run writes nothing)";
    case "rejected":
      return `  → rejected by ${o.guardrail}: ${o.reason}`;
  }
}

function describeFailure(prefix: string, r: PolicyEvaluation): string[] {
  switch (r.outcome) {
    case "ok":
      return r.proposals.length === 0 ? [`${prefix}: no action`] : [];
    case "skipped_cooldown":
      return [`${prefix}: skipped (${r.reason ?? "cooldown"})`];
    case "unavailable":
      return [`${prefix}: skipped (sandbox being rebuilt)`];
    case "error":
    case "timeout":
    case "oom":
    case "crash":
    case "invalid_output":
      return [`${prefix}: FAILED ${r.outcome}: ${r.reason ?? ""}`];
  }
}

/** The config whose guardrails and params a replay uses: the given file, or the built-in defaults (never /etc, so a replay is the same on every machine). */
function replayConfig(
  file: string | undefined,
): { kind: "ok"; config: RuntimeConfig } | { kind: "error"; lines: string[] } {
  const loaded = loadConfig(
    file === undefined
      ? { env: {}, defaultPath: "/nonexistent/cgwatch-policy-test-defaults.yaml" }
      : { path: file, env: {} },
  );
  return loaded.kind === "ok"
    ? { kind: "ok", config: loaded.config }
    : { kind: "error", lines: loaded.errors.map(formatConfigError) };
}

/** What a replay reads before it starts: the trace, the starting snapshots, the config. */
interface ReplayInputs {
  readonly trace: string;
  readonly snapshots: SnapshotSource;
  readonly config: RuntimeConfig;
}

function readInputs(
  opts: PolicyTestOptions,
): { kind: "ok"; inputs: ReplayInputs } | { kind: "error"; lines: string[] } {
  let trace: string;
  try {
    trace = fs.readFileSync(opts.eventsFile, "utf8");
  } catch (e) {
    return {
      kind: "error",
      lines: [`${opts.eventsFile}: cannot read events: ${e instanceof Error ? e.message : String(e)}`],
    };
  }
  let snapshots: SnapshotSource = { kind: "none" };
  if (opts.snapshotFile !== undefined) {
    const read = readSnapshotFile(opts.snapshotFile);
    if (read.kind === "error") return { kind: "error", lines: [read.reason] };
    snapshots = read.source;
  }
  const cfg = replayConfig(opts.configFile);
  if (cfg.kind === "error") return cfg;
  return { kind: "ok", inputs: { trace, snapshots, config: cfg.config } };
}

/** The policy under test, in an engine on the trace's clock, its ctx.log lines collected for the report. */
interface PolicyUnderTest {
  readonly name: string;
  readonly engine: PolicyEngine;
  /** The policy's own log lines since the last take, formatted. */
  readonly policyLogs: string[];
  setNow(at: number): void;
}

async function loadPolicyUnderTest(
  opts: PolicyTestOptions,
  config: RuntimeConfig,
  lines: string[],
): Promise<PolicyUnderTest | { kind: "error"; lines: string[] }> {
  // Compile once to learn the policy's name, which keys its params.
  const checked = await compilePolicies([], {
    files: [opts.policyFile],
    ...(opts.limits === undefined ? {} : { limits: opts.limits }),
  });
  const first = checked.policies[0];
  if (checked.errors.length > 0 || first === undefined)
    return { kind: "error", lines: checked.errors.map((e) => e.text) };
  const name = first.meta.name;
  const params = { ...config.policies.params[name], ...opts.params };
  for (const k of Object.keys(params))
    if (!(k in first.meta.params)) lines.push(`warning: param "${k}" is not declared in meta.params of ${name}`);
  const policyLogs: string[] = [];
  const logger = pino(
    { level: "debug" },
    {
      write(chunk: string) {
        const rec = JSON.parse(chunk) as Record<string, unknown>;
        if (
          rec.msg === "policy loaded" ||
          rec.msg === "policy call failed" ||
          rec.msg === "config params not declared in meta.params (typo?)"
        )
          return;
        const fields =
          rec.policyFields === undefined || rec.policyFields === null ? "" : ` ${JSON.stringify(rec.policyFields)}`;
        policyLogs.push(
          `  log ${pino.levels.labels[Number(rec.level)] ?? String(rec.level)}: ${String(rec.msg)}${fields}`,
        );
      },
    },
  );
  let now = 0;
  const engine = await createPolicyEngine({
    dirs: [],
    files: [opts.policyFile],
    params: { [name]: params },
    logger,
    clock: () => now,
    ...(opts.limits === undefined ? {} : { limits: opts.limits }),
  });
  return { name, engine, policyLogs, setNow: (at) => (now = at) };
}

type Counts = {
  events: number;
  evaluated: number;
  unevaluated: number;
  actions: number;
  applied: number;
  dryRun: number;
  rejected: number;
  failures: number;
  bad: number;
};

/** The replay's running state: each cgroup's snapshot as the replay has left it (recorded, then changed by simulated actions), the guardrail clock, the counts. */
interface Replay {
  readonly policy: PolicyUnderTest;
  readonly inputs: ReplayInputs;
  readonly hostMemoryBytes: number;
  readonly state: Map<string, CgroupSnapshot>;
  sim: GuardrailSim | null;
  readonly n: Counts;
  readonly lines: string[];
}

/** One evaluated event: each proposal judged by the simulated guardrails; an applied one changes what the cgroup's next event sees. */
function evaluate(rp: Replay, event: WatchdogEvent, snapshot: CgroupSnapshot, prefix: string): CgroupSnapshot {
  const { guardrails } = rp.inputs.config;
  const { n, lines } = rp;
  rp.policy.setNow(event.at);
  const sim = (rp.sim ??= startGuardrailSim(guardrails, event.at));
  let current = snapshot;
  for (const r of rp.policy.engine.evaluateDetailed(event, snapshot)) {
    lines.push(...describeFailure(prefix, r));
    for (const p of r.proposals) {
      lines.push(`${prefix}: ${describeAction(p.action)}`);
      const outcome = judge(p, current, guardrails, rp.hostMemoryBytes, sim);
      lines.push(describeOutcome(outcome));
      n.actions++;
      if (outcome.kind === "applied") {
        n.applied++;
        current = outcome.snapshot;
      } else if (outcome.kind === "dry_run") n.dryRun++;
      else n.rejected++;
    }
    lines.push(...rp.policy.policyLogs.splice(0));
    if (r.outcome !== "ok" && r.outcome !== "skipped_cooldown" && r.outcome !== "unavailable") n.failures++;
  }
  return current;
}

/** One trace line: skipped, reported as bad, not subscribed, not evaluated (no snapshot), or evaluated. */
async function replayLine(rp: Replay, text: string, lineNo: number, eventsFile: string): Promise<void> {
  const { n, lines, state } = rp;
  const parsed = parseTraceLine(text, lineNo);
  if (parsed.kind === "skip") return;
  if (parsed.kind === "bad") {
    n.bad++;
    lines.push(`${eventsFile}:${lineNo}: ${parsed.reason}`);
    return;
  }
  const { event } = parsed;
  n.events++;
  const prefix = `line ${lineNo} ${event.kind} ${event.cgroup === "" ? "/" : event.cgroup}`;
  if (parsed.snapshot !== null) state.set(event.cgroup, parsed.snapshot);
  if (!rp.policy.engine.wantsEvent(event.kind, event.cgroup)) {
    lines.push(`${prefix}: not subscribed (meta.on / meta.match)`);
    return;
  }
  const snapshot = state.get(event.cgroup) ?? snapshotFor(rp.inputs.snapshots, event.cgroup);
  if (snapshot === null) {
    n.unevaluated++;
    lines.push(
      `${prefix}: NOT EVALUATED: no snapshot of this cgroup (record the trace with \`cgwatch run --record FILE\`, or pass --snapshot)`,
    );
    return;
  }
  n.evaluated++;
  state.set(event.cgroup, evaluate(rp, event, snapshot, prefix));
  if (event.kind === "cgroup_removed") state.delete(event.cgroup);
  // A crashed sandbox is rebuilt before the next line, as the daemon would between events.
  await rp.policy.engine.settled();
}

function summary(name: string, n: Counts): string {
  const extra = [
    n.unevaluated > 0 ? `${n.unevaluated} not evaluated (no snapshot)` : "",
    n.bad > 0 ? `${n.bad} bad lines` : "",
  ].filter((x) => x !== "");
  return `${name}: ${n.events} events, ${n.actions} actions (${n.applied} applied, ${n.dryRun} dry-run, ${n.rejected} rejected by guardrails), ${n.failures} failed calls${extra.map((x) => `, ${x}`).join("")}`;
}

export async function runPolicyTest(opts: PolicyTestOptions): Promise<PolicyTestResult> {
  const lines: string[] = [];
  const read = readInputs(opts);
  if (read.kind === "error") return { lines: read.lines, exitCode: 2 };
  const policy = await loadPolicyUnderTest(opts, read.inputs.config, lines);
  if ("kind" in policy) return { lines: policy.lines, exitCode: 2 };
  const n: Counts = {
    events: 0,
    evaluated: 0,
    unevaluated: 0,
    actions: 0,
    applied: 0,
    dryRun: 0,
    rejected: 0,
    failures: 0,
    bad: 0,
  };
  const rp: Replay = {
    policy,
    inputs: read.inputs,
    hostMemoryBytes: opts.hostMemoryBytes ?? os.totalmem(),
    state: new Map(),
    sim: null,
    n,
    lines,
  };
  try {
    for (const [i, text] of read.inputs.trace.split("\n").entries()) await replayLine(rp, text, i + 1, opts.eventsFile);
  } finally {
    policy.engine.close();
  }
  lines.push(summary(policy.name, n));
  return { lines, exitCode: n.failures > 0 || n.bad > 0 || n.unevaluated > 0 ? 1 : 0 };
}
