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
    expect(parseTraceLine(`{"kind":"sample","cgroup":"a"}`, 3)).toMatchObject({ kind: "event", event: { kind: "sample", cgroup: "a", at: 3000, source: "poll" }, snapshot: null });
    expect(parseTraceLine(`{"msg":"event","event":{"kind":"sample","cgroup":"a","at":5,"source":"poll"},"snapshot":{"path":"a","labels":{"t":"x"}}}`, 1)).toMatchObject({
      kind: "event",
      event: { at: 5 },
      snapshot: { labels: { t: "x" } },
    });
    expect(parseTraceLine("   ", 1)).toEqual({ kind: "skip" });
    expect(parseTraceLine("{nope", 1)).toMatchObject({ kind: "bad", reason: expect.stringMatching(/^invalid JSON/) as unknown });
    expect(parseTraceLine(`{"kind":"reboot","cgroup":"a"}`, 1)).toEqual({ kind: "bad", reason: 'unknown event kind "reboot"' });
  });
});

describe("runPolicyTest", () => {
  it("reports bad lines with file:line, keeps going, and exits 1", async () => {
    const dir = policyDir({ "p.js": policy("p", `return [{ kind: "set_swappiness", value: cgroup.memory ? 5 : 50 }];`) });
    const events = tmpFile("t.jsonl", `{"kind":"sample","cgroup":"a"}\nnot json\n{"kind":"sample","cgroup":"b"}\n`);
    const snap = tmpFile("s.json", JSON.stringify({ b: { path: "b", labels: {}, memory: { version: 1 }, cpu: null, pids: null } }));
    const r = await runPolicyTest({ policyFile: path.join(dir, "p.js"), eventsFile: events, snapshotFile: snap });
    expect(r.exitCode).toBe(1);
    expect(r.lines).toEqual([
      'line 1 sample a: set_swappiness {"value":50}',
      expect.stringMatching(/t\.jsonl:2: invalid JSON/) as unknown,
      'line 3 sample b: set_swappiness {"value":5}',
      "p: 2 events, 2 actions, 0 failed calls, 1 bad lines",
    ]);
  });

  it("exits 1 on failed calls and 2 when the policy does not compile or the trace is missing", async () => {
    const dir = policyDir({ "bad.js": policy("bad", `return [{ kind: "set_memory_limit", bytes: -1 }];`), "broken.js": "export const meta = {" });
    const events = tmpFile("t.jsonl", `{"kind":"sample","cgroup":"a"}\n`);
    const failed = await runPolicyTest({ policyFile: path.join(dir, "bad.js"), eventsFile: events });
    expect(failed.exitCode).toBe(1);
    expect(failed.lines[0]).toMatch(/^line 1 sample a: FAILED invalid_output: policy bad: action \[0\]: set_memory_limit\.bytes must be within/);
    const broken = await runPolicyTest({ policyFile: path.join(dir, "broken.js"), eventsFile: events });
    expect(broken.exitCode).toBe(2);
    expect(broken.lines[0]).toMatch(/broken\.js:1:\d+: SyntaxError/);
    const missing = await runPolicyTest({ policyFile: path.join(dir, "bad.js"), eventsFile: path.join(dir, "nope.jsonl") });
    expect(missing).toMatchObject({ exitCode: 2, lines: [expect.stringMatching(/cannot read events/) as unknown] });
  });
});
