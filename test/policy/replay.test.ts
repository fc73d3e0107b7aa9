import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseTraceLine, runPolicyTest } from "../../src/policy/replay.js";
import { policy, policyDir } from "./support.js";

function tmpFile(name: string, text: string): string {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-trace-")), name);
  fs.writeFileSync(f, text);
  return f;
}

describe("parseTraceLine", () => {
  it("takes bare events and log records carrying event + snapshot; fills at/source", () => {
    expect(parseTraceLine(`{"kind":"sample","cgroup":"a"}`, 3)).toMatchObject({
      kind: "event",
      event: { kind: "sample", cgroup: "a", at: 3000, source: "poll" },
      snapshot: null,
    });
    expect(
      parseTraceLine(
        `{"msg":"event","event":{"kind":"sample","cgroup":"a","at":5,"source":"poll"},"snapshot":{"path":"a","labels":{"t":"x"}}}`,
        1,
      ),
    ).toMatchObject({
      kind: "event",
      event: { at: 5 },
      snapshot: { labels: { t: "x" } },
    });
    expect(parseTraceLine("   ", 1)).toEqual({ kind: "skip" });
    expect(parseTraceLine("{nope", 1)).toMatchObject({
      kind: "bad",
      reason: expect.stringMatching(/^invalid JSON/) as unknown,
    });
    expect(parseTraceLine(`{"kind":"reboot","cgroup":"a"}`, 1)).toEqual({
      kind: "bad",
      reason: 'unknown event kind "reboot"',
    });
  });
});

const V1 = (limit: number): Record<string, unknown> => ({
  path: "a",
  labels: {},
  memory: { version: 1, usageBytes: limit, limitBytes: limit },
  cpu: null,
  pids: null,
});
const MiB = 1024 * 1024;
/** Raises the memory limit by 10 MiB from whatever the snapshot says. */
const RAISE = policy(
  "raise",
  `return [{ kind: "set_memory_limit", bytes: cgroup.memory.limitBytes + 10 * 1024 * 1024 }];`,
);

function config(yaml: string): string {
  return tmpFile("cgwatch.yaml", yaml);
}

describe("runPolicyTest", () => {
  it("reports bad lines with file:line and events without a snapshot as not evaluated, keeps going, and exits 1", async () => {
    const dir = policyDir({
      "p.js": policy("p", `return [{ kind: "set_swappiness", value: cgroup.memory.version === 1 ? 5 : 50 }];`),
    });
    const events = tmpFile("t.jsonl", `{"kind":"sample","cgroup":"a"}\nnot json\n{"kind":"sample","cgroup":"b"}\n`);
    const snap = tmpFile(
      "s.json",
      JSON.stringify({ b: { path: "b", labels: {}, memory: { version: 1 }, cpu: null, pids: null } }),
    );
    const r = await runPolicyTest({ policyFile: path.join(dir, "p.js"), eventsFile: events, snapshotFile: snap });
    expect(r.exitCode).toBe(1);
    expect(r.lines).toEqual([
      expect.stringMatching(/^line 1 sample a: NOT EVALUATED: no snapshot of this cgroup/) as unknown,
      expect.stringMatching(/t\.jsonl:2: invalid JSON/) as unknown,
      'line 3 sample b: set_swappiness {"value":5}',
      "  → applied (simulated: the next event of this cgroup sees it)",
      "p: 2 events, 1 actions (1 applied, 0 dry-run, 0 rejected by guardrails), 0 failed calls, 1 not evaluated (no snapshot), 1 bad lines",
    ]);
  });

  it("exits 1 when every event the policy listens to lacked a snapshot: a trace of bare events is not a silent pass", async () => {
    const dir = policyDir({ "raise.js": RAISE });
    const events = tmpFile(
      "t.jsonl",
      `{"kind":"sample","cgroup":"a","at":1}\n{"kind":"sample","cgroup":"a","at":2}\n{"kind":"oom_kill","cgroup":"a","at":3}\n`,
    );
    const r = await runPolicyTest({ policyFile: path.join(dir, "raise.js"), eventsFile: events });
    expect(r.exitCode).toBe(1);
    expect(r.lines.at(-1)).toBe(
      "raise: 3 events, 0 actions (0 applied, 0 dry-run, 0 rejected by guardrails), 0 failed calls, 2 not evaluated (no snapshot)",
    );
  });

  it("a ramp replays: each applied raise is what the cgroup's next event sees", async () => {
    const dir = policyDir({ "raise.js": RAISE });
    const events = tmpFile(
      "t.jsonl",
      [1, 2, 3].map((s) => `{"kind":"sample","cgroup":"a","at":${s * 60_000}}`).join("\n"),
    );
    const snap = tmpFile("s.json", JSON.stringify(V1(100 * MiB)));
    const r = await runPolicyTest({
      policyFile: path.join(dir, "raise.js"),
      eventsFile: events,
      snapshotFile: snap,
      hostMemoryBytes: 64 * 1024 * MiB,
    });
    expect(r.exitCode).toBe(0);
    expect(r.lines.filter((l) => l.startsWith("line "))).toEqual(
      [110, 120, 130].map((m, i) => `line ${i + 1} sample a: set_memory_limit {"bytes":${m * MiB}}`),
    );
  });

  it("guardrails run on the trace's own clock: the default 30 s cooldown rejects a proposal 1 s after the last, not one 40 s after", async () => {
    const dir = policyDir({ "raise.js": RAISE });
    const events = tmpFile(
      "t.jsonl",
      [1_000, 2_000, 42_000]
        .map(
          (at) =>
            `{"event":{"kind":"sample","cgroup":"a","at":${at},"source":"poll"},"snapshot":${JSON.stringify(V1(100 * MiB))}}`,
        )
        .join("\n"),
    );
    const r = await runPolicyTest({
      policyFile: path.join(dir, "raise.js"),
      eventsFile: events,
      hostMemoryBytes: 64 * 1024 * MiB,
    });
    const outcomes = r.lines.filter((l) => l.startsWith("  → "));
    expect(outcomes).toEqual([
      "  → applied (simulated: the next event of this cgroup sees it)",
      expect.stringMatching(
        /^ {2}→ rejected by cooldown: set_memory_limit on a went through 1000 ms ago; cooldown is 30000 ms$/,
      ) as unknown,
      "  → applied (simulated: the next event of this cgroup sees it)",
    ]);
    expect(r.lines.at(-1)).toBe(
      "raise: 3 events, 3 actions (2 applied, 0 dry-run, 1 rejected by guardrails), 0 failed calls",
    );
    expect(r.exitCode).toBe(0);
  });

  it("takes guardrails from --config: a ceiling rejects, dry-run changes nothing, and config params apply under --params", async () => {
    const dir = policyDir({
      "raise.js": policy(
        "raise",
        `return [{ kind: "set_memory_limit", bytes: cgroup.memory.limitBytes + ctx.params.step }];`,
        `, params: { step: 1 }`,
      ),
    });
    const events = tmpFile(
      "t.jsonl",
      [60_000, 120_000].map((at) => `{"kind":"sample","cgroup":"a","at":${at}}`).join("\n"),
    );
    const snap = tmpFile("s.json", JSON.stringify(V1(100 * MiB)));
    const ceiling = config(
      `guardrails: { memory: { ceiling: 105M } }\npolicies: { params: { raise: { step: ${10 * MiB} } } }\n`,
    );
    const r = await runPolicyTest({
      policyFile: path.join(dir, "raise.js"),
      eventsFile: events,
      snapshotFile: snap,
      configFile: ceiling,
    });
    expect(r.lines.filter((l) => l.startsWith("  → "))).toEqual([
      expect.stringMatching(/^ {2}→ rejected by memory_ceiling: /) as unknown,
      expect.stringMatching(/^ {2}→ rejected by memory_ceiling: /) as unknown,
    ]);
    const dry = config("dryRun: true\n");
    const d = await runPolicyTest({
      policyFile: path.join(dir, "raise.js"),
      eventsFile: events,
      snapshotFile: snap,
      configFile: dry,
      params: { step: MiB },
      hostMemoryBytes: 64 * 1024 * MiB,
    });
    // Dry-run changes nothing: both proposals start from the same 100 MiB.
    expect(d.lines.filter((l) => l.startsWith("line "))).toEqual([
      `line 1 sample a: set_memory_limit {"bytes":${101 * MiB}}`,
      `line 2 sample a: set_memory_limit {"bytes":${101 * MiB}}`,
    ]);
    expect(d.lines.filter((l) => l.startsWith("  → ")).every((l) => l.startsWith("  → dry_run"))).toBe(true);
  });

  it("refuses a malformed snapshot with the field's path: exit 2 for --snapshot, a bad line in the trace", async () => {
    const dir = policyDir({ "raise.js": RAISE });
    const events = tmpFile("t.jsonl", `{"kind":"sample","cgroup":"a","at":1}\n`);
    const wrong = tmpFile(
      "s.json",
      JSON.stringify({ path: "a", labels: {}, memory: { version: 1, limitBytes: "100M" }, cpu: null, pids: null }),
    );
    const r = await runPolicyTest({ policyFile: path.join(dir, "raise.js"), eventsFile: events, snapshotFile: wrong });
    expect(r).toEqual({
      exitCode: 2,
      lines: [
        expect.stringMatching(/s\.json: snapshot\.memory\.limitBytes must be a number or null, got "100M"$/) as unknown,
      ],
    });
    const notASnapshot = tmpFile("s.json", JSON.stringify([1, 2]));
    expect(
      (await runPolicyTest({ policyFile: path.join(dir, "raise.js"), eventsFile: events, snapshotFile: notASnapshot }))
        .exitCode,
    ).toBe(2);
    const badLine = tmpFile(
      "t.jsonl",
      `{"event":{"kind":"sample","cgroup":"a","at":1},"snapshot":{"path":"a","memory":{"version":3}}}\n`,
    );
    const b = await runPolicyTest({ policyFile: path.join(dir, "raise.js"), eventsFile: badLine });
    expect(b.exitCode).toBe(1);
    expect(b.lines[0]).toMatch(/t\.jsonl:1: snapshot\.memory\.version must be 1 or 2, got 3$/);
  });

  it("exits 1 on failed calls and 2 when the policy does not compile or the trace is missing", async () => {
    const dir = policyDir({
      "bad.js": policy("bad", `return [{ kind: "set_memory_limit", bytes: -1 }];`),
      "broken.js": "export const meta = {",
    });
    const events = tmpFile("t.jsonl", `{"kind":"sample","cgroup":"a"}\n`);
    const snap = tmpFile("s.json", JSON.stringify(V1(100 * MiB)));
    const failed = await runPolicyTest({
      policyFile: path.join(dir, "bad.js"),
      eventsFile: events,
      snapshotFile: snap,
    });
    expect(failed.exitCode).toBe(1);
    expect(failed.lines[0]).toMatch(
      /^line 1 sample a: FAILED invalid_output: policy bad: action \[0\]: set_memory_limit\.bytes must be within/,
    );
    const broken = await runPolicyTest({ policyFile: path.join(dir, "broken.js"), eventsFile: events });
    expect(broken.exitCode).toBe(2);
    expect(broken.lines[0]).toMatch(/broken\.js:1:\d+: SyntaxError/);
    const missing = await runPolicyTest({
      policyFile: path.join(dir, "bad.js"),
      eventsFile: path.join(dir, "nope.jsonl"),
    });
    expect(missing).toMatchObject({ exitCode: 2, lines: [expect.stringMatching(/cannot read events/) as unknown] });
  });
});
