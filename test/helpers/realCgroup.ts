/**
 * Real-kernel cgroup v1 scratch cgroups for tests. Rules of this host:
 * create test cgroups ONLY under the test process's own cgroup (per
 * /proc/self/cgroup), remove them afterwards, kill only processes we started.
 * A tier whose preconditions are missing skips loudly on a laptop, and FAILS
 * in CI (CI=true): no tier may silently skip there.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "vitest";
import { layoutFromMountInfo, type CgroupLayout } from "../../src/cgroup/layout.js";
import { parseProcCgroup } from "../../src/cgroup/paths.js";

export const IN_CI = process.env["CI"] === "true";

export function hostLayout(): CgroupLayout {
  return layoutFromMountInfo(fs.readFileSync("/proc/self/mountinfo", "utf8"), (root) => {
    try {
      return fs.readFileSync(path.join(root, "cgroup.controllers"), "utf8");
    } catch {
      return "";
    }
  });
}

/** Why the real v1 tier cannot run here, or null if it can. */
export function realV1Unavailable(controllers: readonly string[] = ["memory", "cpu"]): string | null {
  if (process.getuid?.() !== 0) return "not running as root";
  const layout = hostLayout();
  for (const c of controllers) if (!layout.v1.has(c)) return `no cgroup v1 ${c} hierarchy mounted`;
  return null;
}

/**
 * describe() for a real-kernel tier: runs when the preconditions hold; else
 * skips with the reason (locally) or registers one failing test (CI).
 */
export function describeRealV1(name: string, controllers: readonly string[], body: () => void): void {
  const reason = realV1Unavailable(controllers);
  if (reason === null) {
    describe(`[real v1] ${name}`, body);
  } else if (IN_CI) {
    describe(`[real v1] ${name}`, () => {
      it("tier preconditions", () => {
        throw new Error(`real v1 tier cannot run in CI: ${reason}`);
      });
    });
  } else {
    describe.skip(`[real v1, SKIPPED: ${reason}] ${name}`, body);
  }
}

let counter = 0;

export interface ScratchCgroup {
  /** Path relative to each hierarchy root (the same under every controller). */
  readonly cgroup: string;
  readonly layout: CgroupLayout;
  /** Absolute dir of the cgroup in a controller's hierarchy. */
  dir(controller: string): string;
  file(controller: string, name: string): string;
  write(controller: string, name: string, value: string): void;
  read(controller: string, name: string): string;
  /** Creates a child cgroup below this one in every controller. */
  child(name: string): ScratchCgroup;
  /** Starts a command already inside the cgroup (it joins before exec). */
  spawnInside(command: string, args: readonly string[], timeoutMs?: number): ChildProcess;
  /** Kills what we started here, waits for the cgroup to empty, removes it. */
  remove(): Promise<void>;
}

/**
 * Creates `cgwatch-test-<pid>-<n>` under the test process's own cgroup in
 * each listed v1 hierarchy. The cgroup path is made identical across
 * controllers by nesting under each controller's own-cgroup path; tests pass
 * the returned `cgroup` + layout, and cgwatch resolves per controller.
 */
export function createScratchCgroup(controllers: readonly string[], tag = "t"): ScratchCgroup {
  const layout = hostLayout();
  const own = parseProcCgroup(fs.readFileSync("/proc/self/cgroup", "utf8"));
  const name = `cgwatch-test-${process.pid}-${tag}-${counter++}`;
  // Own cgroups differ per controller on this host (memory is nested under
  // process_api/..., cpu is "/"), and a cgroup path means the same relative
  // path in every hierarchy. So one scratch cgroup may only span controllers
  // whose own paths agree: memory tests and cpu tests use separate scratches.
  const bases = new Set(controllers.map((c) => own.v1.get(c) ?? ""));
  if (bases.size !== 1)
    throw new Error(
      `controllers ${controllers.join(",")} have different own cgroups here; use separate scratch cgroups`,
    );
  const base = [...bases][0] ?? "";
  return makeScratch(layout, controllers, () => path.posix.join(base, name));
}

function makeScratch(
  layout: CgroupLayout,
  controllers: readonly string[],
  relOf: (c: string) => string,
): ScratchCgroup {
  const started: ChildProcess[] = [];
  const children: ScratchCgroup[] = [];
  const dir = (c: string): string => {
    const root = layout.v1.get(c);
    if (root === undefined) throw new Error(`no v1 hierarchy for ${c}`);
    return path.join(root, relOf(c));
  };
  for (const c of controllers) fs.mkdirSync(dir(c));
  const primary = controllers[0] ?? "memory";
  const scratch: ScratchCgroup = {
    cgroup: relOf(primary),
    layout,
    dir,
    file: (c, n) => path.join(dir(c), n),
    write: (c, n, v) => fs.writeFileSync(path.join(dir(c), n), v),
    read: (c, n) => fs.readFileSync(path.join(dir(c), n), "utf8"),
    child(name) {
      const kid = makeScratch(layout, controllers, (c) => path.posix.join(relOf(c), name));
      children.push(kid);
      return kid;
    },
    spawnInside(command, args, timeoutMs = 60_000) {
      const joins = controllers.map((c) => `echo $$ > ${path.join(dir(c), "cgroup.procs")}`).join(" && ");
      const child = spawn("/bin/sh", ["-c", `${joins} && exec "$0" "$@"`, command, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        timeout: timeoutMs,
        killSignal: "SIGKILL",
      });
      started.push(child);
      return child;
    },
    async remove() {
      for (const kid of children) await kid.remove();
      for (const child of started) {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
      await Promise.all(started.map((c) => waitExit(c)));
      for (const c of controllers) {
        const d = dir(c);
        // A frozen (under_oom with oom_kill_disable) task dies on SIGKILL
        // only once it can run; lifting the limit lets it. Retry rmdir while
        // the cgroup drains.
        for (let attempt = 0; attempt < 100; attempt++) {
          try {
            fs.rmdirSync(d);
            break;
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === "ENOENT") break;
            if (attempt === 0 && c === "memory") {
              try {
                fs.writeFileSync(path.join(d, "memory.oom_control"), "0");
              } catch {
                /* not a memory cgroup or already gone */
              }
            }
            await new Promise((r) => setTimeout(r, 50));
            if (attempt === 99) throw new Error(`could not remove test cgroup ${d}: ${code}`);
          }
        }
      }
    },
  };
  return scratch;
}

export function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/**
 * A bounded memory hog: allocates `totalMb` in 1 MB steps (touching every
 * page), pausing `stepMs` between steps, prints "done" and exits 0 if it got
 * there. python3 keeps the baseline small (~8 MB) next to a 50 MB limit.
 */
export function hogArgs(totalMb: number, stepMs = 5): [string, string[]] {
  const script = [
    "import sys, time",
    "chunks = []",
    `for i in range(${totalMb}):`,
    "    chunks.append(bytearray(1024 * 1024))",
    `    time.sleep(${stepMs / 1000})`,
    "print('done', flush=True)",
  ].join("\n");
  return ["python3", ["-c", script]];
}

/** A CPU burner that spins for `seconds` and exits. */
export function cpuLoopArgs(seconds: number): [string, string[]] {
  return ["python3", ["-c", `import time\nend = time.time() + ${seconds}\nwhile time.time() < end: pass`]];
}
