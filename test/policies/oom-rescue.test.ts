import { describe, expect, it } from "vitest";
import { GiB, MiB, replay } from "./trace.js";

describe("oom-rescue", () => {
  it("v1 under_oom: raises by 25% per stall, even inside the 30 s cooldown (a stall is an emergency), caps at the ceiling, then stops", async () => {
    const r = await replay("oom-rescue", "oom-rescue-v1");
    expect(r.exitCode).toBe(0);
    expect(r.decisions).toEqual([
      `line 1 under_oom docker/3f2a9c: set_memory_limit {"bytes":${320 * MiB}}`,
      // The recovery is no emergency: the cooldown holds it back.
      "line 2 under_oom docker/3f2a9c: skipped (cooling down for another 29940 ms)",
      // A new stall 14 s later is answered at once; so is the next.
      `line 3 under_oom docker/3f2a9c: set_memory_limit {"bytes":${400 * MiB}}`,
      `line 4 under_oom docker/3f2a9c: set_memory_limit {"bytes":${400 * MiB}}`,
      // 7900 MiB + min(25 %, 1 GiB) would pass the 8 GiB ceiling.
      `line 5 under_oom docker/3f2a9c: set_memory_limit {"bytes":${8 * GiB}}`,
      "line 6 under_oom docker/3f2a9c: no action",
    ]);
    expect(r.logs).toContain(`  log warn: at the ceiling; not raising {"limit":${8 * GiB},"ceiling":${8 * GiB}}`);
  });

  it("v2 memory_max/high: acts only near the limit and bounds the step by stepBytes", async () => {
    const r = await replay("oom-rescue", "oom-rescue-v2");
    expect(r.decisions).toEqual([
      "line 1 memory_max system.slice/api.service: no action",
      `line 2 memory_max system.slice/api.service: set_memory_limit {"bytes":${1.25 * GiB}}`,
      // 25 % of 6 GiB is 1.5 GiB; stepBytes caps it at 1 GiB.
      `line 3 memory_high system.slice/api.service: set_memory_limit {"bytes":${7 * GiB}}`,
      "line 4 oom_kill system.slice/api.service: not subscribed (meta.on / meta.match)",
    ]);
  });

  it("takes params from the config, Docker-style sizes included", async () => {
    const r = await replay("oom-rescue", "oom-rescue-v1", { ceilingBytes: "300m", stepPercent: 50 });
    expect(r.decisions[0]).toBe(`line 1 under_oom docker/3f2a9c: set_memory_limit {"bytes":${300 * MiB}}`);
    expect(r.decisions[3]).toBe("line 4 under_oom docker/3f2a9c: no action");
  });
});
