import { describe, expect, it } from "vitest";
import { GiB, MiB, replay } from "./trace.js";

describe("pressure-relief", () => {
  it("tightens memory.high gently while sampled PSI is low, relaxes it on every trigger firing whatever avg10 says, bounded by the limit; no-op on v1", async () => {
    const r = await replay("pressure-relief", "pressure-relief");
    expect(r.exitCode).toBe(0);
    const page = (n: number) => Math.floor(n / 4096) * 4096;
    expect(r.decisions).toEqual([
      `line 1 sample workload.slice/app.service: set_memory_high {"bytes":${page(2 * GiB * 0.99)},"allowBelowUsage":true}`,
      `line 2 sample workload.slice/app.service: set_memory_high {"bytes":${page(2007 * MiB * 0.995)},"allowBelowUsage":true}`,
      // line 3, a v2 sample without memory PSI, never reaches the policy (meta.sampleOnly: "memory_psi"): no line.
      `line 4 memory_pressure workload.slice/app.service: set_memory_high {"bytes":${Math.ceil((1996 * MiB * 1.1) / 4096) * 4096},"allowBelowUsage":false}`,
      `line 5 memory_pressure workload.slice/app.service: set_memory_high {"bytes":${4 * GiB},"allowBelowUsage":false}`,
      "line 6 memory_pressure workload.slice/app.service: no action",
      // line 7, a v1 sample, never reaches the policy (meta.sampleOnly: ["memory_v2"]), so it has no line (below).
      // A trigger firing while avg10 still reads 0.00 (as at most first firings): relax, never tighten.
      `line 8 memory_pressure workload.slice/batch.service: set_memory_high {"bytes":${Math.ceil((GiB * (1 + (0.1 * 0.16) / 0.15)) / 4096) * 4096},"allowBelowUsage":false}`,
      // Stall 6x the threshold over the window: the step is scaled, capped at maxGrowScale (3).
      `line 9 memory_pressure workload.slice/batch.service: set_memory_high {"bytes":${Math.ceil((GiB * 1.3) / 4096) * 4096},"allowBelowUsage":false}`,
      // No stall figures (no baseline yet): still pressure, the plain step.
      `line 10 memory_pressure workload.slice/batch.service: set_memory_high {"bytes":${Math.ceil((GiB * 1.1) / 4096) * 4096},"allowBelowUsage":false}`,
      // Quiet samples are the only way down.
      `line 11 sample workload.slice/batch.service: set_memory_high {"bytes":${page(GiB * 0.99)},"allowBelowUsage":true}`,
    ]);
    expect(r.lines.filter((l) => l.startsWith("line 7 ") || l.startsWith("line 3 "))).toEqual([]);
  });
});
