/**
 * promtool on what we ship: the alert rules (check + unit tests) and a live
 * scrape of cgwatch's metrics server (check metrics: naming conventions,
 * exposition syntax). Needs Debian's prometheus package
 * (scripts/deps/prometheus.sh): skipped loudly without it, failed in CI.
 */
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { populate } from "../../bench/population.js";
import { createMetrics } from "../../src/metrics/metrics.js";
import { startMetricsServer, type MetricsServer } from "../../src/metrics/server.js";
import { IN_CI } from "../helpers/realCgroup.js";
import { RULES_FILE, RULES_TEST_FILE, prometheusUnavailable } from "./harness.js";

const missing = prometheusUnavailable();
const suite = missing === null ? describe : IN_CI ? describe : describe.skip;

function promtool(args: readonly string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync("promtool", args, { input, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

suite(`promtool${missing === null ? "" : ` (SKIPPED: ${missing})`}`, () => {
  let server: MetricsServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it("tier preconditions", () => {
    expect(missing).toBeNull();
  });

  it("promtool check rules: the alert rules are valid", () => {
    const r = promtool(["check", "rules", RULES_FILE]);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.status).toBe(0);
  });

  it("promtool test rules: the alert unit tests pass", () => {
    const r = promtool(["test", "rules", RULES_TEST_FILE]);
    expect(r.out).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });

  it("promtool check metrics: a live scrape of every family reports no problem", async () => {
    const metrics = createMetrics({ build: { version: "0.1.0", revision: "test" } });
    populate(metrics, 20);
    // Every family with data, including v2-only ones, histograms and awkward label values.
    metrics.addCgroup('odd/"quoted"\\path\nnewline', { origin: "created", memory: 2, cpu: 2, pids: true });
    metrics.setPressureCounters('odd/"quoted"\\path\nnewline', "memory", { some: 1.5, full: 0.25 });
    metrics.addPolicy("oom-rescue");
    metrics.recordPolicyEvaluation("oom-rescue", "ok", 0.001);
    metrics.recordAction(
      {
        policy: "oom-rescue",
        cgroup: "x",
        action: { kind: "set_memory_limit", bytes: 1 },
        cause: { kind: "under_oom", at: 0 },
      },
      { kind: "applied", before: "0", after: "1" },
      1,
    );
    metrics.heartbeat();
    server = await startMetricsServer({ metrics, port: 0 });
    const res = await fetch(`${server.url}/metrics`);
    const text = await res.text();
    expect(text).toContain("cgwatch_policy_duration_seconds_bucket");
    const r = promtool(["check", "metrics"], text);
    // promtool prints one line per problem and exits non-zero on any.
    expect(r.out.trim()).toBe("");
    expect(r.status).toBe(0);
  });
});
