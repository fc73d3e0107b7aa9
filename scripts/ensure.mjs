// Shared set-up for `npm start` and `npm test` on a fresh clone: npm
// packages (which also builds the native addon), the compiled dist/, and —
// for the test tiers, as root — the Debian packages they run (prometheus,
// systemd-analyze; QEMU and the guest kernel are prepared by test/vm).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: process.env, ...opts });
  return r.status === 0;
}

export function ensureNodeModules() {
  const marker = path.join(root, "node_modules", ".package-lock.json");
  if (fs.existsSync(marker)) return true;
  process.stdout.write("cgwatch: installing npm packages (npm ci)...\n");
  return run("npm", ["ci", "--no-audit", "--no-fund"]);
}

export function build() {
  return run("npx", ["tsc", "-p", "tsconfig.json"]);
}

/** Debian packages the test tiers need; idempotent scripts under scripts/deps. */
export function ensureTestPackages() {
  if (process.getuid?.() !== 0) {
    process.stdout.write(
      "cgwatch: not root; skipping apt-get of test dependencies (the real-kernel tiers need root anyway)\n",
    );
    return true;
  }
  const dir = path.join(root, "scripts", "deps");
  let ok = true;
  for (const f of fs
    .readdirSync(dir)
    .filter((n) => n.endsWith(".sh"))
    .sort())
    ok = run("bash", [path.join(dir, f)]) && ok;
  return ok;
}
