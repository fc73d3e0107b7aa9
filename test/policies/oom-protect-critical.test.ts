import { describe, expect, it } from "vitest";
import { replay } from "./trace.js";

describe("oom-protect-critical", () => {
  it("sets a low score for critical, a high one for best-effort, nothing for unlabelled; re-applies after the cooldown", async () => {
    const r = await replay("oom-protect-critical", "oom-protect-critical");
    expect(r.exitCode).toBe(0);
    expect(r.decisions).toEqual([
      'line 1 cgroup_added system.slice/postgres.service: set_oom_score_adj {"value":-900}',
      'line 2 cgroup_added system.slice/batch.service: set_oom_score_adj {"value":900}',
      // line 3, the cgroup_added of an unlabelled cgroup, never reaches the policy (meta.addedOnly: ["labelled"]).
      "line 4 sample system.slice/postgres.service: skipped (cooling down for another 30000 ms)",
      'line 5 sample system.slice/postgres.service: set_oom_score_adj {"value":-900}',
    ]);
    expect(r.lines.filter((l) => l.startsWith("line 3 "))).toEqual([]);
  });

  it("clamps configured scores to the kernel's range and honours another label key", async () => {
    const r = await replay("oom-protect-critical", "oom-protect-critical", { criticalScore: -5000, labelKey: "class" });
    expect(r.decisions[0]).toBe("line 1 cgroup_added system.slice/postgres.service: no action");
    const r2 = await replay("oom-protect-critical", "oom-protect-critical", { criticalScore: -5000 });
    expect(r2.decisions[0]).toBe(
      'line 1 cgroup_added system.slice/postgres.service: set_oom_score_adj {"value":-1000}',
    );
  });
});
