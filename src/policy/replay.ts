/**
 * `cgwatch policy test POLICY --events FILE`: replay a recorded trace against
 * one policy and print what it would do, the way `opa test` serves OPA
 * authors. The trace is JSON lines: bare `WatchdogEvent`s, or the watchdog's
 * own log records that carry `event` (and optionally `snapshot`). Cooldowns
 * run on the trace's own clock (`event.at`), so a replay behaves like the
 * recorded run did. A bad line is reported and skipped, never fatal.
 */
import fs from "node:fs";
import { pino } from "pino";
import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import { isEventKind, type WatchdogEvent } from "../events/types.js";
import { compilePolicies } from "./compile.js";
import { createPolicyEngine, type PolicyEvaluation } from "./engine.js";
import type { PolicyLimits } from "./types.js";

export interface PolicyTestOptions {
  readonly policyFile: string;
  readonly eventsFile: string;
  /** ctx.params overrides (over meta.params). */
  readonly params?: Readonly<Record<string, unknown>>;
  /** A JSON snapshot file: one `CgroupSnapshot`, or an object of cgroup path → snapshot. */
  readonly snapshotFile?: string;
  readonly limits?: Partial<PolicyLimits>;
}

export interface PolicyTestResult {
  readonly lines: string[];
  /** 0 all calls ok; 1 a call failed or a line was bad; 2 the policy or an input file could not be loaded. */
  readonly exitCode: 0 | 1 | 2;
}

type SnapshotSource = { readonly kind: "none" } | { readonly kind: "one"; readonly snapshot: CgroupSnapshot } | { readonly kind: "byPath"; readonly map: Record<string, CgroupSnapshot> };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function emptySnapshot(cgroup: string): CgroupSnapshot {
  return { path: cgroup, labels: {}, memory: null, cpu: null, pids: null };
}

function snapshotFor(src: SnapshotSource, cgroup: string): CgroupSnapshot {
  switch (src.kind) {
    case "none":
      return emptySnapshot(cgroup);
    case "one":
      return { ...src.snapshot, path: cgroup };
    case "byPath":
      return src.map[cgroup] ?? emptySnapshot(cgroup);
  }
}

/** One trace line → event (+ snapshot), or why not. Missing `at`/`source` are filled so hand-written traces stay short. */
export function parseTraceLine(
  text: string,
  lineNo: number,
): { kind: "event"; event: WatchdogEvent; snapshot: CgroupSnapshot | null } | { kind: "skip" } | { kind: "bad"; reason: string } {
  if (text.trim() === "") return { kind: "skip" };
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch (e) {
    return { kind: "bad", reason: `invalid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isRecord(rec)) return { kind: "bad", reason: "not a JSON object" };
  const raw = isRecord(rec.event) ? rec.event : rec;
  const snapshot = isRecord(rec.event) && isRecord(rec.snapshot) ? (rec.snapshot as unknown as CgroupSnapshot) : null;
  if (typeof raw.kind !== "string" || !isEventKind(raw.kind)) return { kind: "bad", reason: `unknown event kind ${JSON.stringify(raw.kind)}` };
  if (typeof raw.cgroup !== "string") return { kind: "bad", reason: "event has no cgroup" };
  const event = { ...raw, at: typeof raw.at === "number" ? raw.at : lineNo * 1000, source: typeof raw.source === "string" ? raw.source : "poll" };
  // The kind, cgroup, at and source were checked; kind-specific fields are the policy's to read.
  return { kind: "event", event: event as unknown as WatchdogEvent, snapshot };
}

function describeAction(action: Readonly<Record<string, unknown>>): string {
  const { kind, ...rest } = action;
  return Object.keys(rest).length === 0 ? String(kind) : `${String(kind)} ${JSON.stringify(rest)}`;
}

function describeEvaluation(prefix: string, r: PolicyEvaluation): string[] {
  switch (r.outcome) {
    case "ok":
      return r.proposals.length === 0 ? [`${prefix}: no action`] : r.proposals.map((p) => `${prefix}: ${describeAction(p.action)}`);
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

export async function runPolicyTest(opts: PolicyTestOptions): Promise<PolicyTestResult> {
  const lines: string[] = [];
  let trace: string;
  try {
    trace = fs.readFileSync(opts.eventsFile, "utf8");
  } catch (e) {
    return { lines: [`${opts.eventsFile}: cannot read events: ${e instanceof Error ? e.message : String(e)}`], exitCode: 2 };
  }
  let snapshots: SnapshotSource = { kind: "none" };
  if (opts.snapshotFile !== undefined) {
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(opts.snapshotFile, "utf8"));
      if (!isRecord(parsed)) throw new Error("expected a JSON object");
      snapshots =
        typeof parsed.path === "string"
          ? { kind: "one", snapshot: parsed as unknown as CgroupSnapshot }
          : { kind: "byPath", map: parsed as unknown as Record<string, CgroupSnapshot> };
    } catch (e) {
      return { lines: [`${opts.snapshotFile}: cannot read snapshot: ${e instanceof Error ? e.message : String(e)}`], exitCode: 2 };
    }
  }

  // Compile once to learn the policy's name, which keys its params.
  const checked = await compilePolicies([], { files: [opts.policyFile], ...(opts.limits === undefined ? {} : { limits: opts.limits }) });
  const first = checked.policies[0];
  if (checked.errors.length > 0 || first === undefined) {
    return { lines: checked.errors.map((e) => e.text), exitCode: 2 };
  }
  const name = first.meta.name;
  for (const k of first.unknownParams) lines.push(`warning: param "${k}" is not declared in meta.params of ${name}`);

  const policyLogs: string[] = [];
  const logger = pino(
    { level: "debug" },
    {
      write(chunk: string) {
        const rec = JSON.parse(chunk) as Record<string, unknown>;
        if (rec.msg === "policy loaded" || rec.msg === "policy call failed") return;
        const fields = rec.policyFields === undefined || rec.policyFields === null ? "" : ` ${JSON.stringify(rec.policyFields)}`;
        policyLogs.push(`  log ${pino.levels.labels[Number(rec.level)] ?? String(rec.level)}: ${String(rec.msg)}${fields}`);
      },
    },
  );
  let now = 0;
  const engine = await createPolicyEngine({
    dirs: [],
    files: [opts.policyFile],
    params: { [name]: opts.params ?? {} },
    logger,
    clock: () => now,
    ...(opts.limits === undefined ? {} : { limits: opts.limits }),
  });
  let events = 0;
  let actions = 0;
  let failures = 0;
  let bad = 0;
  try {
    const rows = trace.split("\n");
    for (const [i, text] of rows.entries()) {
      const lineNo = i + 1;
      const parsed = parseTraceLine(text, lineNo);
      if (parsed.kind === "skip") continue;
      if (parsed.kind === "bad") {
        bad++;
        lines.push(`${opts.eventsFile}:${lineNo}: ${parsed.reason}`);
        continue;
      }
      const { event } = parsed;
      events++;
      const prefix = `line ${lineNo} ${event.kind} ${event.cgroup === "" ? "/" : event.cgroup}`;
      if (!engine.wantsEvent(event.kind, event.cgroup)) {
        lines.push(`${prefix}: not subscribed (meta.on / meta.match)`);
        continue;
      }
      now = event.at;
      const results = engine.evaluateDetailed(event, parsed.snapshot ?? snapshotFor(snapshots, event.cgroup));
      for (const r of results) {
        lines.push(...describeEvaluation(prefix, r));
        lines.push(...policyLogs.splice(0));
        actions += r.proposals.length;
        if (r.outcome !== "ok" && r.outcome !== "skipped_cooldown" && r.outcome !== "unavailable") failures++;
      }
      // A crashed sandbox is rebuilt before the next line, as the daemon would between events.
      await engine.settled();
    }
  } finally {
    engine.close();
  }
  lines.push(`${name}: ${events} events, ${actions} actions, ${failures} failed calls${bad > 0 ? `, ${bad} bad lines` : ""}`);
  return { lines, exitCode: failures > 0 || bad > 0 ? 1 : 0 };
}
