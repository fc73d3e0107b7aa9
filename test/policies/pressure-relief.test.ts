import { describe, expect, it } from "vitest";
import { GiB, MiB, replay } from "./trace.js";

describe("pressure-relief", () => {
  it("tightens memory.high gently while PSI is low, relaxes it when pressure rises, bounded by the limit; no-op on v1", async () => {
    const r = await replay("pressure-relief", "pressure-relief");
    expect(r.exitCode).toBe(0);
    const page = (n: number) => Math.floor(n / 4096) * 4096;
    expect(r.decisions).toEqual([
      `line 1 sample workload.slice/app.service: set_memory_high {"bytes":${page(2 * GiB * 0.99)},"allowBelowUsage":true}`,
      `line 2 sample workload.slice/app.service: set_memory_high {"bytes":${page(2007 * MiB * 0.995)},"allowBelowUsage":true}`,
      "line 3 sample workload.slice/app.service: no action",
      `line 4 memory_pressure workload.slice/app.service: set_memory_high {"bytes":${Math.ceil((1996 * MiB * 1.1) / 4096) * 4096},"allowBelowUsage":false}`,
      `line 5 memory_pressure workload.slice/app.service: set_memory_high {"bytes":${4 * GiB},"allowBelowUsage":false}`,
      "line 6 memory_pressure workload.slice/app.service: no action",
      "line 7 sample workload.slice/app.service: no action",
    ]);
  });
});
