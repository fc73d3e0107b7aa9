import { defineConfig } from "vitest/config";

// The tests that cover the pure core under mutation (test/mutation/README.md):
// StrykerJS reruns them for each mutant, so only these, not the real-kernel tiers.
export default defineConfig({
  test: {
    root: `${import.meta.dirname}/../..`,
    include: [
      "test/events/**/*.test.ts",
      "test/actions/guardrails.test.ts",
      "test/actions/plan.test.ts",
      "test/cgroup/parse.test.ts",
    ],
    pool: "forks",
    testTimeout: 30_000,
  },
});
