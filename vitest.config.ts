import { defineConfig } from "vitest/config";

// Real-kernel tests create cgroups and run hogs; they must not race each other
// for the same machine-wide resources, so files run in forks (one process per
// file, each in the test runner's own cgroup) and never share a worker.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // test/fixtures/probes: files that break vitest on purpose, run only by test/scripts/tiers.test.ts.
    exclude: ["test/vm/guest/**", "test/fixtures/**", "node_modules/**", "dist/**"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default"],
  },
});
