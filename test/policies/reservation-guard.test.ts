import { describe, expect, it } from "vitest";
import { MiB, replay } from "./trace.js";

describe("reservation-guard", () => {
  it("v1 lowers swappiness once; v2 tightens memory.high by a bounded step, never below the reservation", async () => {
    const r = await replay("reservation-guard", "reservation-guard");
    expect(r.exitCode).toBe(0);
    expect(r.decisions).toEqual([
      'line 1 reservation_breach docker/web: set_swappiness {"value":10}',
      "line 2 reservation_breach docker/web: skipped (cooling down for another 29000 ms)",
      // swappiness is already at the target
      "line 3 reservation_breach docker/web: no action",
      // 10 % of 2 GiB (204.8 MiB) is under the 256 MiB stepBytes
      `line 4 reservation_breach kubepods.slice/pod1: set_memory_high {"bytes":${Math.floor((2048 * MiB - 2048 * MiB * 0.1) / 4096) * 4096},"allowBelowUsage":false}`,
      // 600 MiB - 10 % = 540 MiB, below the 900 MiB usage: reclaim is the point
      `line 5 reservation_breach kubepods.slice/pod1: set_memory_high {"bytes":${540 * MiB},"allowBelowUsage":true}`,
      "line 6 reservation_breach kubepods.slice/pod1: no action",
    ]);
  });
});
