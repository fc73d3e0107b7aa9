/**
 * Real containers for tests: podman 4.3 + runc from Debian's packages, the
 * way they run on this kind of host (reference: containers.md in the shared
 * references; packages installed by scripts/deps/containers.sh).
 *
 * The API is small on purpose; other tiers (identity, packaging) import it:
 *
 *   describeContainers(name, body)   describe() that runs when the engine can
 *                                    start; skips loudly on a laptop, FAILS in CI
 *   const engine = await startEngine("tag")
 *   engine.parent                    the containers' cgroup parent, one path
 *                                    relative to every hierarchy root
 *   const c = await engine.run({ flags: ["-m", "30m"], command: ["/bin/hog", "100"] })
 *   c.cgroup / c.dir("memory") / c.read("memory", "memory.limit_in_bytes")
 *   c.tasks() / c.logs() / c.warnings (what `podman run` said about flags)
 *   await c.wait(30_000)             the container's exit code
 *   await engine.close()             containers, image, storage, cgroups in
 *                                    every hierarchy; idempotent; throws only
 *                                    when a cgroup cannot be removed (loudly,
 *                                    rather than leave it behind)
 *
 * Isolation: every engine has its own --root/--runroot/--tmpdir under a temp
 * dir, so it sees no other engine's containers or images, and its cgroup
 * parent is named after the test process's pid below the test process's own
 * memory cgroup (the only place tests may create cgroups on this host). runc
 * creates the parent in EVERY hierarchy (in the controllers where our own
 * cgroup is the root, along with any missing ancestors): close() removes
 * them all, the ancestors too when this engine made them. What a killed
 * test process left (its pid no longer runs) is swept at the next start.
 *
 * The image holds a static busybox (sh, sleep, cat, ...) and the small static
 * programs in test/containers/image/ (built with gcc -static): /bin/hog MB
 * [STEP_US] [HOLD_S], /bin/spin SECONDS, /bin/forks N SECONDS. Its root filesystem
 * tarball is cached by a hash of those sources, so a suite builds it once.
 */
import { execFile, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "vitest";
import { parseMountInfo } from "../../src/cgroup/layout.js";
import { parseProcCgroup } from "../../src/cgroup/paths.js";
import { IN_CI } from "./realCgroup.js";

/** The repository (this file also runs compiled, from dist/test/helpers, for `npm run bench`). */
function repoRoot(): string {
  for (let d = import.meta.dirname; d !== "/"; d = path.dirname(d))
    if (fs.existsSync(path.join(d, "package.json")) && fs.existsSync(path.join(d, "test/containers/image"))) return d;
  throw new Error(`no repository above ${import.meta.dirname}`);
}
const IMAGE_SOURCES = path.join(repoRoot(), "test/containers/image");
const PROGRAMS = ["hog", "spin", "forks"] as const;
const BUSYBOX_LINKS = ["sh", "sleep", "cat", "echo", "ls", "kill", "true", "dd", "head"];

/** Flags every `podman run` needs on this kind of host (containers.md). */
export const RUN_FLAGS: readonly string[] = [
  "--network",
  "none",
  "--ulimit",
  "nofile=1024:1024",
  "--ulimit",
  "nproc=1024:1024",
];

export interface ContainerSpec {
  /** `podman run` flags (Docker's: -m, --cpu-quota, ...), added after RUN_FLAGS. */
  readonly flags?: readonly string[];
  /** Command in the image, e.g. ["/bin/hog", "100"]. */
  readonly command: readonly string[];
}

export interface Container {
  readonly id: string;
  readonly name: string;
  /** The container's cgroup relative to each hierarchy root: `<parent>/libpod-<id>`. */
  readonly cgroup: string;
  /** performance.now() just before `podman run` was started. */
  readonly startedAt: number;
  /** What `podman run` printed on stderr (warnings about flags it dropped). */
  readonly warnings: string;
  /** Absolute directory of the container's cgroup in a v1 hierarchy ("memory", "cpu", ...). */
  dir(controller: string): string;
  /** A control file of the container's cgroup, trimmed. */
  read(controller: string, file: string): string;
  /** Pids of every task in the container (from the memory hierarchy). */
  tasks(): number[];
  /** Waits for the container to exit; its exit code. Rejects after timeoutMs. */
  wait(timeoutMs: number): Promise<number>;
  /** What the container printed (stdout and stderr). */
  logs(): Promise<string>;
  /** `podman rm -f -t 1`: also stops a container stalled under_oom. */
  remove(): Promise<void>;
}

export interface Engine {
  /** The containers' cgroup parent (relative to each hierarchy root, no leading "/"). */
  readonly parent: string;
  /** The local test image, e.g. localhost/cgwatch-test:<hash>. */
  readonly image: string;
  /** Runs podman with this engine's global flags. */
  podman(args: readonly string[], timeoutMs?: number): Promise<PodmanResult>;
  /** `podman run -d`: resolves once the container runs (its cgroup exists). */
  run(spec: ContainerSpec): Promise<Container>;
  /** Removes containers, image, storage and the parent cgroup in every hierarchy. */
  close(): Promise<void>;
}

export interface PodmanResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Why real containers cannot run here, or null when they can. */
export function containerEngineUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "not running as root";
  for (const tool of ["podman", "runc", "conmon", "gcc"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (scripts/deps/containers.sh installs it)`;
  }
  if (!fs.existsSync("/bin/busybox")) return "/bin/busybox is missing (package busybox-static)";
  if (
    !/ memory /.test(
      ` ${cgroupMounts()
        .map((m) => m.controllers.join(" "))
        .join(" ")} `,
    )
  )
    return "no cgroup v1 memory hierarchy";
  return null;
}

/** describe() for the container tier: runs when the engine can; else skips with the reason, or fails in CI. */
export function describeContainers(name: string, body: () => void): void {
  const reason = containerEngineUnavailable();
  if (reason === null) describe(`[containers] ${name}`, body);
  else if (IN_CI) {
    describe(`[containers] ${name}`, () => {
      it("tier preconditions", () => {
        throw new Error(`container tier cannot run in CI: ${reason}`);
      });
    });
  } else describe.skip(`[containers, SKIPPED: ${reason}] ${name}`, body);
}

interface CgroupMount {
  readonly mountPoint: string;
  readonly controllers: readonly string[];
}

/** Every cgroup (v1 and v2) mount of this host: runc creates the parent in each. */
function cgroupMounts(): CgroupMount[] {
  return parseMountInfo(fs.readFileSync("/proc/self/mountinfo", "utf8"))
    .filter((m) => m.fsType === "cgroup" || m.fsType === "cgroup2")
    .map((m) => ({
      mountPoint: m.mountPoint,
      controllers: m.fsType === "cgroup2" ? ["unified"] : m.superOptions.filter((o) => o !== "rw" && o !== "ro"),
    }));
}

function sh(
  cmd: string,
  args: readonly string[],
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<PodmanResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 << 20, env: env ?? process.env, cwd },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1;
        resolve({
          code,
          stdout: String(stdout),
          stderr: String(stderr) + (err !== null && code === -1 ? `\n${err.message}` : ""),
        });
      },
    );
  });
}

/** Builds (once per source hash) the image's root filesystem tarball; returns its path and tag. */
function buildRootfsTar(): { tar: string; tag: string } {
  const hash = crypto.createHash("sha256");
  for (const p of PROGRAMS) hash.update(fs.readFileSync(path.join(IMAGE_SOURCES, `${p}.c`)));
  hash.update(fs.readFileSync("/bin/busybox"));
  hash.update(BUSYBOX_LINKS.join(","));
  const tag = hash.digest("hex").slice(0, 16);
  const cacheDir = path.join(os.tmpdir(), `cgwatch-test-image-${tag}`);
  const tar = path.join(cacheDir, "rootfs.tar");
  if (fs.existsSync(tar)) return { tar, tag };
  // Build beside the cache and rename: parallel test files may race here.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-test-image-build-"));
  try {
    const rootfs = path.join(work, "rootfs");
    for (const d of ["bin", "tmp", "proc", "sys", "dev", "etc"])
      fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    fs.copyFileSync("/bin/busybox", path.join(rootfs, "bin/busybox"));
    fs.chmodSync(path.join(rootfs, "bin/busybox"), 0o755);
    for (const l of BUSYBOX_LINKS) fs.symlinkSync("busybox", path.join(rootfs, "bin", l));
    for (const p of PROGRAMS) {
      const r = spawnSync(
        "gcc",
        ["-static", "-O2", "-Wall", "-o", path.join(rootfs, "bin", p), path.join(IMAGE_SOURCES, `${p}.c`)],
        { encoding: "utf8" },
      );
      if (r.status !== 0) throw new Error(`gcc -static ${p}.c failed:\n${r.stderr}`);
    }
    const r = spawnSync("tar", ["-C", rootfs, "-cf", path.join(work, "rootfs.tar"), "."], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    fs.mkdirSync(cacheDir, { recursive: true });
    fs.renameSync(path.join(work, "rootfs.tar"), tar);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { tar, tag };
}

let engines = 0;

/**
 * Starts a private engine: storage in a temp dir, the test image imported,
 * a cgroup parent `<own memory cgroup>/cgwatch-ct-<pid>-<tag>-<n>`.
 */
export async function startEngine(tag: string): Promise<Engine> {
  const own = parseProcCgroup(fs.readFileSync("/proc/self/cgroup", "utf8"));
  const ownMemory = own.v1.get("memory");
  if (ownMemory === undefined) throw new Error("no v1 memory cgroup in /proc/self/cgroup");
  // Relative to every hierarchy root, like every cgroup path in cgwatch.
  const parent = path.posix.join(ownMemory, `cgwatch-ct-${process.pid}-${tag}-${engines++}`).replace(/^\/+/, "");
  const mounts = cgroupMounts();
  // Ancestors of the parent that do not exist yet in a hierarchy: runc makes
  // them, so we remove them too (deepest first) when empty.
  const missing: string[] = [];
  for (const m of mounts) {
    for (
      let rel = path.posix.dirname(parent);
      rel !== "." && rel !== "/" && rel !== "";
      rel = path.posix.dirname(rel)
    ) {
      const d = path.join(m.mountPoint, rel);
      if (!fs.existsSync(d)) missing.push(d);
    }
  }
  await sweepDeadRuns(mounts, path.posix.dirname(parent));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `cgwatch-podman-${process.pid}-${tag}-`));
  const global = [
    "--root",
    path.join(home, "root"),
    "--runroot",
    path.join(home, "runroot"),
    "--tmpdir",
    path.join(home, "tmp"),
    "--cgroup-manager",
    "cgroupfs",
    "--runtime",
    "runc",
    "--events-backend",
    "file",
    "--storage-driver",
    "overlay",
  ];
  const env = { ...process.env, TMPDIR: path.join(home, "tmpdir") };
  fs.mkdirSync(env.TMPDIR, { recursive: true });
  // conmon inherits podman's working directory and creates a file `oom` there when its container is
  // OOM-killed: run podman in the engine's own directory, not the repository's.
  const podman = (args: readonly string[], timeoutMs = 60_000): Promise<PodmanResult> =>
    sh("podman", [...global, ...args], timeoutMs, env, home);
  const names: string[] = [];
  let closed = false;

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const n of names) await podman(["rm", "-f", "-t", "1", n], 30_000);
    await podman(["rm", "-a", "-f", "-t", "1"], 30_000);
    await podman(["rmi", "-a", "-f"], 30_000);
    // Unmount whatever the store still has mounted, then drop the store.
    const mounted = fs
      .readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(home + "/"))
      .sort((a, b) => b.length - a.length);
    for (const m of mounted) spawnSync("umount", ["-l", m]);
    fs.rmSync(home, { recursive: true, force: true });
    await removeCgroupTree(mounts, parent);
    for (const d of missing.sort((a, b) => b.length - a.length)) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* in use by someone else, or already gone: not ours to force */
      }
    }
  };

  try {
    const { tar, tag: imageTag } = buildRootfsTar();
    const image = `localhost/cgwatch-test:${imageTag}`;
    const imp = await podman(["import", "--change", 'CMD ["/bin/sh"]', tar, image], 120_000);
    if (imp.code !== 0) throw new Error(`podman import failed (${imp.code}): ${imp.stderr}`);
    let n = 0;
    const engine: Engine = {
      parent,
      image,
      podman,
      async run(spec) {
        const name = `cgwatch-${process.pid}-${tag}-${n++}`;
        names.push(name);
        const startedAt = performance.now();
        // Absolute: runc joins it to each hierarchy's root (a relative parent
        // would be joined to runc's own cgroup, different per controller).
        const r = await podman([
          "run",
          "-d",
          "--name",
          name,
          "--cgroup-parent",
          `/${engine.parent}`,
          ...RUN_FLAGS,
          ...(spec.flags ?? []),
          image,
          ...spec.command,
        ]);
        if (r.code !== 0) throw new Error(`podman run ${(spec.flags ?? []).join(" ")} failed (${r.code}): ${r.stderr}`);
        const id = r.stdout.trim().split("\n").at(-1) ?? "";
        if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`podman run printed no container id: ${r.stdout}`);
        return makeContainer(engine, mounts, name, id, startedAt, r.stderr);
      },
      close,
    };
    return engine;
  } catch (err) {
    await close();
    throw err;
  }
}

function makeContainer(
  engine: Engine,
  mounts: readonly CgroupMount[],
  name: string,
  id: string,
  startedAt: number,
  warnings: string,
): Container {
  const cgroup = `${engine.parent}/libpod-${id}`;
  const dir = (controller: string): string => {
    const m = mounts.find((x) => x.controllers.includes(controller));
    if (m === undefined) throw new Error(`no cgroup hierarchy for ${controller}`);
    return path.join(m.mountPoint, cgroup);
  };
  return {
    id,
    name,
    cgroup,
    startedAt,
    warnings,
    dir,
    read: (controller, file) => fs.readFileSync(path.join(dir(controller), file), "utf8").trim(),
    tasks: () =>
      fs
        .readFileSync(path.join(dir("memory"), "tasks"), "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map(Number),
    async wait(timeoutMs) {
      const r = await engine.podman(["wait", name], timeoutMs);
      if (r.code !== 0)
        throw new Error(
          `podman wait ${name} did not return an exit code within ${timeoutMs} ms (${r.code}): ${r.stderr}`,
        );
      return Number(r.stdout.trim());
    },
    async logs() {
      const r = await engine.podman(["logs", name]);
      return r.stdout + r.stderr;
    },
    async remove() {
      await engine.podman(["rm", "-f", "-t", "1", name], 30_000);
    },
  };
}

const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`);

/**
 * What a killed test process (a vitest worker past its timeout) left behind:
 * container parents `cgwatch-ct-<pid>-*` and stores `cgwatch-podman-<pid>-*`
 * of pids that no longer run. Empty cgroups are removed; a parent that still
 * has tasks is reported, never killed (not ours to kill any more).
 */
async function sweepDeadRuns(mounts: readonly CgroupMount[], ownRel: string): Promise<void> {
  const memory = mounts.find((m) => m.controllers.includes("memory"));
  const here = memory === undefined ? null : path.join(memory.mountPoint, ownRel);
  for (const name of here === null || !fs.existsSync(here) ? [] : fs.readdirSync(here)) {
    const pid = /^cgwatch-ct-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || alive(Number(pid))) continue;
    await removeCgroupTree(mounts, path.posix.join(ownRel, name), 0).catch((err: unknown) => {
      process.stderr.write(`podman helper: a dead run's container cgroup is still busy: ${String(err)}\n`);
    });
  }
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = /^cgwatch-podman-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || alive(Number(pid))) continue;
    const dir = path.join(os.tmpdir(), name);
    const mounted = fs
      .readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(dir + "/"));
    for (const m of mounted.sort((a, b) => b.length - a.length)) spawnSync("umount", ["-l", m]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Removes `rel` and everything below it in every hierarchy, deepest first; retries while tasks drain. */
async function removeCgroupTree(mounts: readonly CgroupMount[], rel: string, retries = 100): Promise<void> {
  for (const m of mounts) {
    const top = path.join(m.mountPoint, rel);
    if (!fs.existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
      dirs.push(d);
    };
    walk(top);
    for (const d of dirs) {
      for (let attempt = 0; ; attempt++) {
        try {
          fs.rmdirSync(d);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT") break;
          if (attempt >= retries) throw new Error(`could not remove container cgroup ${d}: ${code}`);
          // A task stalled under_oom dies on SIGKILL only once it can run.
          if (m.controllers.includes("memory") && retries > 0) {
            try {
              fs.writeFileSync(path.join(d, "memory.oom_control"), "0");
            } catch {
              /* gone meanwhile */
            }
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  }
}
