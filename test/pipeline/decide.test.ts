/**
 * The policy stage's order of work: every proposal of an event is executed
 * (and reported) before the gauges of the cgroups it changed are
 * re-published, once per changed cgroup.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ActionOutcome, ActionProposal } from "../../src/actions/types.js";
import { v2LayoutAt } from "../../src/cgroup/layout.js";
import { createFileReader } from "../../src/cgroup/read.js";
import type { WatchdogEvent } from "../../src/events/types.js";
import { createDecide, type DecideDeps } from "../../src/pipeline/decide.js";
import type { PolicyEngine } from "../../src/policy/engine.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const proposal = (policy: string, cgroup: string): ActionProposal =>
  ({
    policy,
    cgroup,
    action: { kind: "set_memory_limit", bytes: 1 << 30 },
    cause: { kind: "oom_kill", at: 0 },
  }) as unknown as ActionProposal;

function decideWith(outcomeOf: (p: ActionProposal) => ActionOutcome["kind"]): {
  decide: (e: WatchdogEvent) => unknown;
  trace: string[];
} {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-decide-"));
  dirs.push(root);
  const trace: string[] = [];
  const evaluations = [
    { policy: "p1", outcome: "proposed", reason: null, proposals: [proposal("p1", "a"), proposal("p1", "b")] },
    { policy: "p2", outcome: "proposed", reason: null, proposals: [proposal("p2", "a"), proposal("p2", "c")] },
  ];
  const deps: DecideDeps = {
    layout: v2LayoutAt(root),
    reader: createFileReader(),
    identities: { get: () => null },
    scope: { labelsOf: () => ({}) },
    policies: { evaluateDetailed: () => evaluations } as unknown as Pick<PolicyEngine, "evaluateDetailed">,
    wants: () => true,
    executor: () => ({
      execute: (p) => {
        trace.push(`execute ${p.policy} ${p.cgroup}`);
        return { kind: outcomeOf(p) } as unknown as ActionOutcome;
      },
    }),
    gauges: { refresh: (cgroup) => void trace.push(`refresh ${cgroup}`) },
    onAction: (p, o) => void trace.push(`action ${p.policy} ${p.cgroup} ${o.kind}`),
  };
  return { decide: createDecide(deps), trace };
}

const event = { kind: "oom_kill", cgroup: "a", at: 0, source: "notification" } as unknown as WatchdogEvent;

describe("createDecide", () => {
  it("executes every proposal first, then re-publishes each cgroup an applied action changed, once", () => {
    const { decide, trace } = decideWith((p) => (p.cgroup === "c" ? "failed" : "applied"));
    decide(event);
    expect(trace).toEqual([
      "execute p1 a",
      "action p1 a applied",
      "execute p1 b",
      "action p1 b applied",
      "execute p2 a",
      "action p2 a applied",
      "execute p2 c",
      "action p2 c failed",
      "refresh a",
      "refresh b",
    ]);
  });
  it("re-publishes nothing when no action was applied", () => {
    const { decide, trace } = decideWith(() => "rejected");
    decide(event);
    expect(trace.filter((t) => t.startsWith("refresh"))).toEqual([]);
  });
});

describe("the snapshot's reads", () => {
  /** A v2 cgroup with the files a snapshot reads, decided through a reader whose kept fds are counted. */
  function keptAfter(kind: WatchdogEvent["kind"]): number {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-decide-"));
    dirs.push(root);
    fs.mkdirSync(path.join(root, "a"));
    for (const [file, text] of Object.entries({
      "memory.current": "1024\n",
      "memory.max": "max\n",
      "memory.high": "max\n",
      "memory.low": "0\n",
      "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
      "cpu.max": "max 100000\n",
      "cpu.weight": "100\n",
      "cpu.stat": "usage_usec 1\n",
    })) {
      fs.writeFileSync(path.join(root, "a", file), text);
    }
    const reader = createFileReader();
    const deps: DecideDeps = {
      layout: v2LayoutAt(root),
      reader,
      identities: { get: () => null },
      scope: { labelsOf: () => ({}) },
      policies: { evaluateDetailed: () => [] },
      wants: () => true,
      executor: () => ({ execute: () => ({ kind: "rejected" }) as unknown as ActionOutcome }),
      gauges: { refresh: () => undefined },
    };
    createDecide(deps)({ kind, cgroup: "a", at: 0, source: "notification" } as unknown as WatchdogEvent);
    const kept = reader.openCount;
    reader.close();
    return kept;
  }

  it("keeps fds for the notification path, which re-reads the same cgroup", () => {
    expect(keptAfter("oom_kill")).toBeGreaterThan(0);
  });
  it("keeps none for a cgroup_added or a sample: at discovery they would spend the fd budget on settings files", () => {
    expect(keptAfter("cgroup_added")).toBe(0);
    expect(keptAfter("sample")).toBe(0);
  });
});
