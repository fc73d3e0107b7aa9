/** Self-protection helpers on a fake /proc: own oom_score_adj, own cgroups, MemTotal. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ownCgroupsFromProcSelf,
  parseMemTotal,
  protectSelf,
  readOwnCgroups,
} from "../../src/actions/selfProtection.js";
import { captureLog } from "./helpers.js";

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs = [];
});
function fakeProc(pid: number, adj = "0\n"): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-fproc-"));
  dirs.push(root);
  fs.mkdirSync(path.join(root, String(pid)));
  fs.writeFileSync(path.join(root, String(pid), "oom_score_adj"), adj);
  return root;
}

describe("protectSelf", () => {
  it("writes -1000 by default, reads it back, logs one decision line", () => {
    const procRoot = fakeProc(4242, "200\n");
    const log = captureLog();
    expect(protectSelf({ procRoot, pid: 4242, logger: log.logger })).toEqual({
      kind: "applied",
      before: "200",
      after: "-1000",
    });
    expect(fs.readFileSync(path.join(procRoot, "4242", "oom_score_adj"), "utf8")).toBe("-1000");
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({
      msg: "action decision",
      policy: "self-protection",
      action: "set_oom_score_adj",
      before: "200",
      after: "-1000",
      outcome: "applied",
    });
  });
  it("a configured value; out-of-range values are rejected without writing", () => {
    const procRoot = fakeProc(4243);
    expect(protectSelf({ procRoot, pid: 4243, value: -500 })).toMatchObject({ kind: "applied", after: "-500" });
    for (const value of [-1001, 1001, 0.5])
      expect(protectSelf({ procRoot, pid: 4243, value })).toMatchObject({
        kind: "rejected",
        guardrail: "invalid_action",
      });
    expect(fs.readFileSync(path.join(procRoot, "4243", "oom_score_adj"), "utf8")).toBe("-500");
  });
  it("a missing process is a failed outcome, not an exception", () => {
    const procRoot = fakeProc(1);
    expect(protectSelf({ procRoot, pid: 999_999 })).toMatchObject({ kind: "failed", errno: "ENOENT" });
  });
});

describe("own cgroups and host memory", () => {
  it("every hierarchy's own cgroup from /proc/self/cgroup text, deduplicated", () => {
    const text = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/f9e1\n1:cpu:/\n0::/\n";
    expect(ownCgroupsFromProcSelf(text).sort()).toEqual(["", "process_api/f9e1"]);
  });
  it("an unreadable /proc protects the root only", () => {
    expect(readOwnCgroups("/nonexistent-proc")).toEqual([""]);
  });
  it("MemTotal in bytes", () => {
    expect(parseMemTotal("MemTotal:       24682416 kB\nMemFree: 1 kB\n")).toBe(24682416 * 1024);
    expect(parseMemTotal("nothing")).toBeNull();
  });
});
