import { describe, expect, it } from "vitest";
import { createProblemLog } from "../../src/logging/problems.js";
import { captureLog } from "../actions/helpers.js";

describe("problem log", () => {
  it("a problem reported on every re-read is logged once when it starts and once when it clears, and counted once per start", () => {
    const log = captureLog();
    const counted: string[] = [];
    const problems = createProblemLog({
      logger: log.logger,
      count: (op, file, reason) => counted.push(`${op}:${file}:${reason}`),
    });
    const p = {
      op: "read" as const,
      path: "/cg/a/memory.events",
      reason: "malformed",
      message: "missing key oom_kill",
      cgroup: "a",
    };
    for (let i = 0; i < 50; i++) problems.report(p);
    expect(log.lines.map((l) => l["msg"])).toEqual(["read problem started: missing key oom_kill"]);
    expect(log.lines[0]).toMatchObject({
      level: 40,
      op: "read",
      file: "memory.events",
      reason: "malformed",
      cgroup: "a",
    });
    for (let i = 0; i < 5; i++) problems.clear("read", p.path);
    expect(log.lines.map((l) => l["msg"])).toEqual([
      "read problem started: missing key oom_kill",
      "read problem cleared (was: missing key oom_kill)",
    ]);
    expect(log.lines[1]).toMatchObject({ level: 30, file: "memory.events", reason: "malformed" });
    // It comes back: a new start, counted again.
    problems.report(p);
    expect(counted).toEqual(["read:memory.events:malformed", "read:memory.events:malformed"]);
    expect(problems.active()).toHaveLength(1);
  });

  it("one path can carry problems of different owners; each owner clears only its own reasons", () => {
    const log = captureLog();
    const problems = createProblemLog({ logger: log.logger });
    problems.report({ op: "read", path: "/x/cpu.stat", reason: "fifo", message: "a FIFO" });
    problems.report({ op: "read", path: "/x/cpu.stat", reason: "malformed", message: "garbage" });
    problems.report({ op: "write", path: "/x/cpu.stat", reason: "symlink", message: "a symlink" });
    problems.clear("read", "/x/cpu.stat", (r) => r !== "malformed");
    expect(
      problems
        .active()
        .map((p) => `${p.op}:${p.reason}`)
        .sort(),
    ).toEqual(["read:malformed", "write:symlink"]);
    problems.clear("write", "/x/cpu.stat");
    expect(problems.active().map((p) => p.reason)).toEqual(["malformed"]);
  });
});
