/**
 * Issue 16's "two cooldown layers collide": a policy's cooldown and the
 * guardrail cooldown, both 1 s, rejected 2 of 19 proposals "went through
 * 999.9 ms ago", because one was measured when the policy ran and the other
 * when the executor did. Both are now measured between the causing events'
 * times, so with equal cooldowns every proposal the policy makes passes,
 * however the evaluation and execution times jitter.
 */
import { describe, expect, it } from "vitest";
import { createActionExecutor } from "../../src/actions/executor.js";
import { createGuardedWriter } from "../../src/cgroup/writer.js";
import type { WatchdogEvent } from "../../src/events/types.js";
import { createPolicyEngine } from "../../src/policy/engine.js";
import { OPEN_GUARDRAILS, captureLog, fakeClock } from "../actions/helpers.js";
import { fakeHost } from "../helpers/fakeCgroupfs.js";
import { policy, policyDir, recordingLogger, snapshot } from "./support.js";

describe("policy and guardrail cooldowns", () => {
  it("equal 1 s cooldowns: 19 events one second apart give 19 applied actions, whatever the jitter", async () => {
    const host = fakeHost(2);
    try {
      host.addCgroup("svc", { "pids.max": "100\n" });
      const clock = fakeClock(0);
      const dir = policyDir({
        "bump.js": policy(
          "bump",
          `return [{ kind: "set_pids_max", max: 100 + Math.round(event.at / 1000) }];`,
          `, cooldown: "1s"`,
        ),
      });
      const engine = await createPolicyEngine({
        dirs: [dir],
        logger: recordingLogger().logger,
        clock: () => clock.now(),
      });
      const log = captureLog();
      const exec = createActionExecutor({
        layout: host.layout,
        // set_pids_max touches no process: /proc is never read.
        writer: createGuardedWriter(host.layout, "/nonexistent-proc"),
        procRoot: "/nonexistent-proc",
        guardrails: { global: { ...OPEN_GUARDRAILS, cooldownMs: 1000 } },
        logger: log.logger,
        clock,
        hostMemoryBytes: 8 * 1024 ** 3,
        ownCgroups: [],
      });
      const outcomes: string[] = [];
      for (let i = 0; i < 19; i++) {
        const at = i * 1000;
        // The policy runs 0-0.2 ms after the read, the executor 0-0.3 ms after that.
        clock.set(at + (i % 3) * 0.1);
        const event: WatchdogEvent = { kind: "sample", cgroup: "svc", at, source: "poll" };
        for (const p of engine.evaluate(event, snapshot("svc"))) {
          clock.advance(((i + 1) % 2) * 0.3);
          outcomes.push(exec.execute(p).kind);
        }
      }
      expect(outcomes).toEqual(Array.from({ length: 19 }, () => "applied"));
      engine.close();
    } finally {
      host.cleanup();
    }
  });
});
