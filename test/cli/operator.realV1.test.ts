/**
 * The hybrid case on the real kernel: on this host a process's own cgroup
 * differs per v1 controller, so a scratch cgroup made in the cpu and cpuacct
 * hierarchies only is a path that exists in no memory hierarchy. `cgwatch
 * status` and `cgwatch run` (child processes, as an operator runs them) must
 * treat it as a cpu-only cgroup: no memory notifier, no eventfd warning.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, expect, it } from "vitest";
import { buildDist, runCli, startCli } from "../helpers/cliProcess.js";
import { createScratchCgroup, describeRealV1 } from "../helpers/realCgroup.js";

beforeAll(() => buildDist(), 120_000);

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describeRealV1("a cgroup only in the cpu hierarchy", ["memory", "cpu", "cpuacct"], () => {
  it("status: memory=- notifier=none; run: watched for cpu, no warning and no stack trace", async () => {
    const scratch = createScratchCgroup(["cpu", "cpuacct"], "hybrid");
    cleanups.push(() => scratch.remove());
    expect(fs.existsSync(path.join(scratch.layout.v1.get("memory") ?? "/nonexistent", scratch.cgroup))).toBe(false);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cgwatch-hybrid-real-${process.pid}-`));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const config = path.join(dir, "cgwatch.yaml");
    // Watches only the scratch cgroup, changes nothing (no policies, dry-run).
    fs.writeFileSync(
      config,
      [
        `watch: [${JSON.stringify(scratch.cgroup)}]`,
        "policies: { builtin: false }",
        "dryRun: true",
        "metrics: { listen: 127.0.0.1:0 }",
        "",
      ].join("\n"),
    );

    const status = runCli(["status", "-c", config]);
    expect(status.status).toBe(0);
    // (status names whether each cgroup may be acted on, since acting is opt-in)
    expect(status.stdout).toMatch(new RegExp(`  ${scratch.cgroup}  (act|observe) memory=- notifier=none`));

    const cli = startCli(["run", "-c", config]);
    cleanups.push(() => cli.stop());
    const ready = await cli.waitLog((l) => l["msg"] === "ready: first scan complete", "ready");
    expect(ready["watched"]).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(await cli.stop()).toBe(0);
    expect(cli.logs().filter((l) => l["component"] === "watch" && l["level"] !== "info")).toEqual([]);
    expect(cli.stdout()).not.toMatch(/"stack"/);
  }, 60_000);
});
