/**
 * The operator's path, once per test file: `npm pack` of the working tree
 * (prepack: tsc, then prebuildify compiles the addon into prebuilds/), then
 * the host steps of docs/deploy.md ("systemd (one host)") run VERBATIM as a
 * bash script on what looks like a fresh host without compilers or network:
 * a private mount namespace where /usr and /etc are overlays whose writes go
 * to temp dirs (so `npm install -g` lands in /usr/lib/node_modules and the
 * units in /etc/systemd/system as documented, and nothing reaches the real
 * host), with gcc, g++, cc, make and python3 deleted in the overlay, npm
 * offline against a dead registry and an empty cache. `systemctl` lines are
 * not run (PID 1 here is not systemd); `systemd-analyze verify` and
 * `security` run on the installed units instead, while the namespace lives.
 *
 * The pack runs in a copy of the tree: prebuildify rebuilds build/ in place
 * and moves the addon out of it, which must not happen under the other test
 * files that load the repository's own build/Release addon.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const REPO = path.resolve(import.meta.dirname, "../..");
/** The search path systemd uses for ExecStart and a root shell's usual PATH: no pyenv, no ~/bin. */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** What a compiler-less host lacks; node-gyp needs every one of them. */
const COMPILERS = [
  "/usr/bin/gcc*",
  "/usr/bin/g++*",
  "/usr/bin/cc",
  "/usr/bin/c++",
  "/usr/bin/cpp*",
  "/usr/bin/make",
  "/usr/bin/python3*",
  "/usr/bin/x86_64-linux-gnu-g*",
];

export interface PackedInstall {
  readonly dir: string;
  readonly tarball: string;
  /** What `npm install -g` wrote under /usr, seen from outside the namespace. */
  readonly usr: string;
  /** What the steps wrote under /etc. */
  readonly etc: string;
  /** The installed package (…/lib/node_modules/cgwatch) and the bin symlink npm made. */
  readonly pkg: string;
  readonly bin: string;
  /** The documented steps as run, and the script's combined output. */
  readonly steps: readonly string[];
  readonly log: string;
  readonly status: number | null;
  /** Outputs of the checks run inside the namespace after the steps. */
  readonly verify: { readonly status: number; readonly output: string };
  readonly security: { readonly status: number; readonly output: string };
  readonly whichCompilers: string;
  cleanup(): void;
}

/** The first ```sh block after the heading: the commands an operator types on the host. */
export function documentedHostSteps(markdown: string, heading = "### Install on each host"): string[] {
  const at = markdown.indexOf(heading);
  if (at < 0) throw new Error(`docs/deploy.md has no "${heading}" section`);
  const m = /```sh\n([\s\S]*?)```/.exec(markdown.slice(at));
  if (m?.[1] === undefined) throw new Error(`no sh block under "${heading}"`);
  return m[1].split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
}

function copyTree(to: string): void {
  const ls = spawnSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: REPO, encoding: "utf8" });
  if (ls.status !== 0) throw new Error(`git ls-files failed: ${ls.stderr}`);
  for (const rel of ls.stdout.split("\0").filter((f) => f !== "")) {
    const from = path.join(REPO, rel);
    if (!fs.existsSync(from)) continue; // deleted in the work tree, not yet committed
    fs.mkdirSync(path.dirname(path.join(to, rel)), { recursive: true });
    fs.copyFileSync(from, path.join(to, rel));
    fs.chmodSync(path.join(to, rel), fs.statSync(from).mode & 0o777);
  }
  // A real node_modules (hard links: instant, no space), without npm's hidden lockfile. Through a symlink npm
  // pack bundled the transitive dependencies (quickjs-emscripten-core's @jitl/quickjs-ffi-types...) only while
  // that lockfile was newer than node_modules itself: any later entry there (vitest's .vite-temp, a test's
  // .cache) made npm read the linked tree, which misses them, and the installed package failed to start.
  const nm = spawnSync("cp", ["-al", path.join(REPO, "node_modules"), path.join(to, "node_modules")], {
    encoding: "utf8",
  });
  if (nm.status !== 0) throw new Error(`hard-linking node_modules failed: ${nm.stderr}`);
  fs.rmSync(path.join(to, "node_modules", ".package-lock.json"), { force: true });
}

export function npmPack(dir: string): string {
  const src = path.join(dir, "src");
  copyTree(src);
  const r = spawnSync("npm", ["pack", "--pack-destination", dir], { cwd: src, encoding: "utf8", timeout: 600_000 });
  if (r.status !== 0) throw new Error(`npm pack failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  const name = r.stdout.trim().split("\n").at(-1) ?? "";
  const tarball = path.join(dir, name);
  if (!fs.existsSync(tarball)) throw new Error(`npm pack wrote no ${tarball}:\n${r.stdout}`);
  return tarball;
}

export function packAndInstall(): PackedInstall {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cgwatch-pkg-${process.pid}-`));
  const tarball = npmPack(dir);
  const steps = documentedHostSteps(fs.readFileSync(path.join(REPO, "docs/deploy.md"), "utf8"));
  for (const d of ["usr-up", "usr-work", "etc-up", "etc-work", "home", "out"]) fs.mkdirSync(path.join(dir, d));
  const out = (f: string): string => path.join(dir, "out", f);
  const script = [
    "set -euo pipefail",
    `mount -t overlay overlay -o lowerdir=/usr,upperdir=${dir}/usr-up,workdir=${dir}/usr-work /usr`,
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/etc-up,workdir=${dir}/etc-work /etc`,
    `rm -f ${COMPILERS.join(" ")}`,
    `{ command -v gcc g++ cc make python3 || true; } > ${out("which")}`,
    `cd ${dir}`,
    "set -x",
    ...steps.map((s) =>
      /^\s*(sudo\s+)?systemctl\b/.test(s) ? `: not run, PID 1 is not systemd: ${JSON.stringify(s)}` : s,
    ),
    "set +x +e",
    `systemd-analyze verify /etc/systemd/system/cgwatch.service /etc/systemd/system/cgwatch.socket > ${out("verify")} 2>&1; echo $? > ${out("verify.rc")}`,
    `(cd /etc/systemd/system && systemd-analyze security --offline=true cgwatch.service) > ${out("security")} 2>&1; echo $? > ${out("security.rc")}`,
  ].join("\n");
  fs.writeFileSync(path.join(dir, "steps.sh"), `${script}\n`);
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "bash", path.join(dir, "steps.sh")], {
    encoding: "utf8",
    timeout: 600_000,
    // A fresh host's root shell: no compiler variables, an empty npm cache, and
    // a registry that answers nothing, so the install can only use the tarball.
    env: {
      PATH: SYSTEM_PATH,
      HOME: path.join(dir, "home"),
      npm_config_offline: "true",
      npm_config_registry: "http://127.0.0.1:9/",
      npm_config_cache: path.join(dir, "home", ".npm"),
      npm_config_update_notifier: "false",
    },
  });
  const read = (f: string): string => (fs.existsSync(out(f)) ? fs.readFileSync(out(f), "utf8") : "");
  const usr = path.join(dir, "usr-up");
  return {
    dir,
    tarball,
    usr,
    etc: path.join(dir, "etc-up"),
    pkg: path.join(usr, "lib/node_modules/cgwatch"),
    bin: path.join(usr, "bin/cgwatch"),
    steps,
    log: `${r.stdout}\n${r.stderr}`,
    status: r.status,
    verify: { status: Number(read("verify.rc").trim() || "-1"), output: read("verify") },
    security: { status: Number(read("security.rc").trim() || "-1"), output: read("security") },
    whichCompilers: read("which"),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
