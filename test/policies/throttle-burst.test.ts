import { describe, expect, it } from "vitest";
import { replay } from "./trace.js";

describe("throttle-burst", () => {
  it("raises the quota after 3 consecutive throttled intervals, again after the cooldown, then decays to the original when calm", async () => {
    const r = await replay("throttle-burst", "throttle-burst");
    expect(r.exitCode).toBe(0);
    const actions = r.decisions.filter((l) => !l.endsWith("no action"));
    expect(actions).toEqual([
      'line 6 cpu_throttled docker/encoder: set_cpu_quota {"quotaUs":150000,"periodUs":100000}',
      'line 9 cpu_throttled docker/encoder: set_cpu_quota {"quotaUs":225000,"periodUs":100000}',
      'line 11 sample docker/encoder: set_cpu_quota {"quotaUs":162500,"periodUs":100000}',
      'line 13 sample docker/encoder: set_cpu_quota {"quotaUs":131250,"periodUs":100000}',
      'line 14 sample docker/encoder: set_cpu_quota {"quotaUs":115625,"periodUs":100000}',
      'line 15 sample docker/encoder: set_cpu_quota {"quotaUs":107813,"periodUs":100000}',
      'line 16 sample docker/encoder: set_cpu_quota {"quotaUs":100000,"periodUs":100000}',
    ]);
    // The below-threshold reading on line 3 broke the first streak.
    expect(r.decisions[4]).toBe("line 5 cpu_throttled docker/encoder: no action");
    expect(r.decisions.at(-1)).toBe("line 17 sample docker/encoder: no action");
  });

  it("never exceeds the ceiling in cores", async () => {
    const r = await replay("throttle-burst", "throttle-burst", { ceilingCores: 1.2 });
    expect(r.decisions.filter((l) => l.includes("set_cpu_quota"))[0]).toBe(
      'line 6 cpu_throttled docker/encoder: set_cpu_quota {"quotaUs":120000,"periodUs":100000}',
    );
  });
});
