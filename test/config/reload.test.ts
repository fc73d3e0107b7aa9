import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { changedKeys, planReload } from "../../src/config/reload.js";
import type { RuntimeConfig } from "../../src/config/types.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

function config(yaml: string): RuntimeConfig {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-reload-")), "c.yaml");
  fs.writeFileSync(f, yaml);
  const r = loadConfig({ path: f, env: {} });
  if (r.kind === "error") throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe("planReload", () => {
  it("nothing changed, nothing to do", () => {
    expect(changedKeys(config(""), config(""))).toEqual([]);
  });

  it("applies watch, exclude, params, disabled, dryRun, guardrails and log level; everything else waits for a restart", () => {
    const before = config("");
    const after = config(
      [
        "dryRun: true",
        "log: { level: debug, format: pretty }",
        "policies: { params: { oom-rescue: { stepPercent: 50 } }, disabled: [throttle-burst], deadline: 80ms }",
        'watch: ["docker/*"]',
        "pollInterval: 2s",
        "metrics: { listen: 127.0.0.1:9999 }",
        "",
      ].join("\n"),
    );
    const plan = planReload(before, after);
    expect([...plan.apply].sort()).toEqual([
      "dryRun",
      "guardrails",
      "log.level",
      "policies.disabled",
      "policies.params",
      "watch",
    ]);
    expect([...plan.restart].sort()).toEqual(["log.format", "metrics", "policies.deadlineMs", "pollIntervalMs"]);
  });
});
