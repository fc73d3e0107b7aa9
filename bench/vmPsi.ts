/**
 * The v2 pressure figures: boots the VM tier's QEMU guest (test/vm/vmtest.sh,
 * kernel cache shared through VMTEST_CACHE) once and runs
 * bench/vm/psi-guest.sh in it, which measures `reps` repetitions of kernel
 * pressure → cgwatch event → action applied on both paths (PSI trigger,
 * memory.events). Needs root and QEMU, as the VM tier does; without them the
 * figure is reported as skipped, with the reason.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { VmPsiRep, VmPsiResult } from "./vm/psi-guest.js";

export type VmPsiBench =
  | ({ readonly kind: "measured" } & VmPsiResult & { readonly wallSeconds: number })
  | { readonly kind: "skipped"; readonly reason: string };

export function runVmPsiBench(repo: string, reps: number): VmPsiBench {
  if (process.getuid?.() !== 0) return { kind: "skipped", reason: "the QEMU guest needs root (9p export of /)" };
  const share = path.join(repo, "test-results", "bench-vm");
  fs.rmSync(share, { recursive: true, force: true });
  fs.mkdirSync(share, { recursive: true });
  fs.writeFileSync(path.join(share, "reps"), String(reps));
  const t0 = performance.now();
  const vm = spawnSync(
    "bash",
    [
      path.join(repo, "test/vm/vmtest.sh"),
      "-m",
      "1024",
      "-t",
      "900",
      "-w",
      share,
      "-l",
      path.join(repo, "test-results", "bench-vm-console.log"),
      path.join(repo, "bench/vm/psi-guest.sh"),
      repo,
    ],
    {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, VMTEST_CACHE: process.env["VMTEST_CACHE"] ?? path.join(repo, ".vmcache") },
    },
  );
  const wallSeconds = Math.round((performance.now() - t0) / 100) / 10;
  const file = path.join(share, "psi.json");
  if (vm.status !== 0 || !fs.existsSync(file)) {
    return {
      kind: "skipped",
      reason: `the guest run failed (exit ${String(vm.status)}); console: test-results/bench-vm-console.log`,
    };
  }
  const result = JSON.parse(fs.readFileSync(file, "utf8")) as VmPsiResult;
  return { kind: "measured", ...result, wallSeconds };
}

/** Median and p90 (nearest rank) of the non-null values, and how many were null. */
export function medianP90(values: readonly (number | null)[]): {
  median: number;
  p90: number;
  n: number;
  missing: number;
} {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  const rank = (q: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))] ?? NaN;
  return { median: rank(0.5), p90: rank(0.9), n: v.length, missing: values.length - v.length };
}

export type { VmPsiRep };
