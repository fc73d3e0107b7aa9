#!/usr/bin/env node
// `npm run coverage`: line and branch coverage of src/ by the unit and fake
// cgroupfs tiers (the tiers that run on any machine, as any user), printed
// as a table and written to coverage/coverage-summary.json. The real-kernel
// files are left out on purpose: what they cover needs root and a v1 host,
// and the point is what the portable tiers alone would catch.
import { spawnSync } from "node:child_process";
import { root } from "./ensure.mjs";

// Files that need the real kernel (cgroup v1 as root, eventfd, PSI) or that
// run nested vitest (the runner's probes): not part of the measured tiers.
const REAL_KERNEL = [
  "test/prometheus/realOom.test.ts",
  "test/watch/watcher.realV1.test.ts",
  "test/actions/real.test.ts",
  "test/cli/cli.realV1.test.ts",
  "test/sources/eventfd*.test.ts",
  "test/sources/psiTrigger.test.ts",
  "test/native/index.test.ts",
  "test/scripts/tiers.test.ts",
];

const args = [
  "vitest",
  "run",
  "--coverage.enabled",
  "--coverage.provider=v8",
  "--coverage.include=src/**",
  "--coverage.reportOnFailure",
  "--coverage.reporter=text",
  "--coverage.reporter=json-summary",
  "--coverage.reportsDirectory=coverage",
  // The root config's own excludes, which --exclude replaces.
  "--exclude=test/vm/guest/**",
  "--exclude=test/fixtures/**",
  "--exclude=node_modules/**",
  "--exclude=dist/**",
  ...REAL_KERNEL.map((f) => `--exclude=${f}`),
  ...process.argv.slice(2),
];
const r = spawnSync("npx", args, { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
