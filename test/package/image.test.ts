/**
 * The DaemonSet's image, built and run as a cluster would run it: the npm
 * tarball packed from this tree, the image built by scripts/image/build.sh
 * (buildah, from the Containerfile and a local node base: no registry), then
 * run by podman with the DaemonSet's settings — read-only root filesystem,
 * the host's cgroupfs at /host/sys/fs/cgroup (rslave, as HostToContainer),
 * host PID namespace (so its /proc is the host's), all capabilities dropped
 * but DAC_OVERRIDE, SYS_RESOURCE and KILL, no new privileges, the config
 * mounted read-only at /etc/cgwatch, CGWATCH_CGROUP_ROOT and
 * CGWATCH_METRICS_LISTEN from the environment — and shown to rescue a real
 * container stalled under_oom next to it, while its liveness probe's
 * /healthz answers. Both containers live below this test's own cgroup
 * (the engine's parent), and cgwatch's config watches only that parent.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { npmPack } from "../helpers/packedInstall.js";
import { shippedConfigFor } from "../helpers/cgwatchRun.js";
import { describeContainers, RUN_FLAGS, startEngine, type Engine } from "../helpers/podman.js";

const REPO = path.resolve(import.meta.dirname, "../..");
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;
const IMAGE = `localhost/cgwatch:${VERSION}`;
const MB = 1024 * 1024;
// One raise (50 MB + 25%) is enough: the stall is real, and the rescue is one decision away.
const HOG_MB = 55;

type Line = Record<string, unknown>;

describeContainers("the cgwatch image, run as the DaemonSet runs it, rescues a stalled container", () => {
  let dir = "";
  let engine: Engine | undefined;
  let imageBytes = 0;
  const name = `cgwatch-image-${process.pid}`;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `cgwatch-image-${process.pid}-`));
    const tarball = npmPack(dir);
    const store = `--root ${dir}/store --runroot ${dir}/run --storage-driver overlay`;
    const b = spawnSync("bash", [path.join(REPO, "scripts/image/build.sh"), IMAGE], {
      encoding: "utf8",
      timeout: 600_000,
      env: { ...process.env, BUILDAH_FLAGS: store, CGWATCH_TARBALL: tarball },
    });
    if (b.status !== 0) throw new Error(`image build failed (${b.status}):\n${b.stdout}\n${b.stderr}`);
    const push = spawnSync(
      "buildah",
      [...store.split(" "), "push", "--quiet", IMAGE, `docker-archive:${dir}/image.tar:${IMAGE}`],
      { encoding: "utf8", timeout: 300_000 },
    );
    if (push.status !== 0) throw new Error(`buildah push failed: ${push.stderr}`);
    engine = await startEngine("image");
    const load = await engine.podman(["load", "--quiet", "-i", `${dir}/image.tar`], 300_000);
    if (load.code !== 0) throw new Error(`podman load failed: ${load.stderr}`);
    const size = await engine.podman(["image", "inspect", "--format", "{{.Size}}", IMAGE]);
    imageBytes = Number(size.stdout.trim());
    process.stdout.write(`cgwatch image ${IMAGE}: ${(imageBytes / MB).toFixed(1)} MB\n`);
  }, 900_000);

  afterAll(async () => {
    await engine?.close();
    spawnSync("bash", ["-c", `umount -l ${dir}/store/overlay 2>/dev/null; true`]);
    spawnSync(
      "buildah",
      ["--root", `${dir}/store`, "--runroot", `${dir}/run`, "--storage-driver", "overlay", "rmi", "-a", "-f"],
      { timeout: 120_000 },
    );
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it("builds: ENTRYPOINT is cgwatch, the DaemonSet names this image", async () => {
    const e = engine as Engine;
    const cfg = await e.podman([
      "image",
      "inspect",
      "--format",
      "{{json .Config.Entrypoint}} {{json .Config.Cmd}}",
      IMAGE,
    ]);
    expect(cfg.stdout.trim()).toBe(
      '["/usr/bin/node","/usr/lib/node_modules/cgwatch/dist/src/cli.js"] ["run","--config","/etc/cgwatch/cgwatch.yaml"]',
    );
    expect(imageBytes).toBeGreaterThan(0);
    const ds = fs.readFileSync(path.join(REPO, "deploy/kubernetes/daemonset.yaml"), "utf8");
    expect(ds).toMatch(new RegExp(`image: ${IMAGE.replace(/[.]/g, "\\.")}\\s`));
    const v = await e.podman(["run", "--rm", ...RUN_FLAGS, "--read-only", IMAGE, "--version"]);
    expect(v.stdout.trim(), v.stderr).toBe(VERSION);
  }, 120_000);

  it("runs read-only with the DaemonSet's capabilities, answers /healthz, and rescues a container stalled under_oom", async () => {
    const e = engine as Engine;
    const cfgDir = path.join(dir, "etc-cgwatch");
    fs.mkdirSync(cfgDir);
    // The operator's opt-in: the shipped config with one watch rule, the stalled containers' parent only.
    fs.writeFileSync(path.join(cfgDir, "cgwatch.yaml"), shippedConfigFor({ watch: [`${e.parent}/*`] }));
    const run = await e.podman([
      "run",
      "-d",
      "--name",
      name,
      "--cgroup-parent",
      `/${e.parent}`,
      // readOnlyRootFilesystem: true, and no writable /tmp either (podman adds tmpfs mounts by default; Kubernetes does not).
      "--read-only",
      "--read-only-tmpfs=false",
      "--pid",
      "host",
      // The DaemonSet's pod is on the node's network for Prometheus; here the probe comes from the host.
      "--network",
      "host",
      "--ulimit",
      "nofile=1024:1024",
      "--ulimit",
      "nproc=1024:1024",
      "--user",
      "0:0",
      "--cap-drop",
      "ALL",
      "--cap-add",
      "DAC_OVERRIDE",
      "--cap-add",
      "SYS_RESOURCE",
      "--cap-add",
      "KILL",
      "--security-opt",
      "no-new-privileges",
      "-v",
      "/sys/fs/cgroup:/host/sys/fs/cgroup:rw,rslave",
      "-v",
      `${cfgDir}:/etc/cgwatch:ro`,
      "-e",
      "CGWATCH_CGROUP_ROOT=/host/sys/fs/cgroup",
      "-e",
      "CGWATCH_METRICS_LISTEN=127.0.0.1:0",
      IMAGE,
      "run",
      "--config",
      "/etc/cgwatch/cgwatch.yaml",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const lines = async (): Promise<Line[]> =>
      (await e.podman(["logs", name])).stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Line);
    const waitLine = async (pred: (l: Line) => boolean, what: string, timeoutMs = 60_000): Promise<Line> => {
      const t0 = Date.now();
      for (;;) {
        const hit = (await lines()).find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() - t0 > timeoutMs)
          throw new Error(
            `cgwatch container: no ${what}:\n${(await e.podman(["logs", name])).stdout.slice(-4000)}${(await e.podman(["logs", name])).stderr.slice(-2000)}`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const listening = await waitLine((l) => l["msg"] === "metrics listening", "metrics listening line");
    const url = String(listening["url"]);
    await waitLine((l) => l["msg"] === "ready: first scan complete", "ready line");
    // cgwatch leaves out its own container's cgroup (it reads /proc/self/cgroup through the host's
    // cgroup namespace, as a v1 container has it): what it watches below the parent is conmon's.
    const infoCgroups = async (): Promise<string[]> =>
      [...(await (await fetch(`${url}/metrics`)).text()).matchAll(/^cgwatch_cgroup_info\{[^}]*cgroup="([^"]+)"/gm)].map(
        (m) => m[1] ?? "",
      );
    const own = (await e.podman(["inspect", "--format", "{{.Id}}", name])).stdout.trim();
    expect(own).toMatch(/^[0-9a-f]{64}$/);
    const watched = await infoCgroups();
    process.stdout.write(`cgwatch container watches: ${JSON.stringify(watched)}\n`);
    expect(watched).not.toContain(`${e.parent}/libpod-${own}`);
    expect(watched).toEqual([`${e.parent}/conmon`]);

    // The process holds exactly the DaemonSet's three capabilities (DAC_OVERRIDE 1, KILL 5, SYS_RESOURCE 24)
    // that this host can grant (its own bounding set may lack some: this machine's lacks SYS_RESOURCE), and no new privileges.
    const capsOf = (text: string, field: string): bigint =>
      BigInt(`0x${new RegExp(`^${field}:\\s+([0-9a-f]+)$`, "m").exec(text)?.[1] ?? "0"}`);
    const pid = (await e.podman(["inspect", "--format", "{{.State.Pid}}", name])).stdout.trim();
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const granted =
      ((1n << 1n) | (1n << 5n) | (1n << 24n)) & capsOf(fs.readFileSync("/proc/self/status", "utf8"), "CapBnd");
    expect(capsOf(status, "CapEff").toString(16)).toBe(granted.toString(16));
    expect(granted & ((1n << 1n) | (1n << 5n))).toBe((1n << 1n) | (1n << 5n));
    expect(/^NoNewPrivs:\s+(\d)$/m.exec(status)?.[1]).toBe("1");

    // The DaemonSet's liveness and readiness probes.
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);

    const c = await e.run({ flags: ["-m", "50m", "--oom-kill-disable"], command: ["/bin/hog", String(HOG_MB)] });
    const exit = await c.wait(120_000).catch(async (err: unknown) => {
      const mine = (await lines())
        .filter((l) => JSON.stringify(l).includes(c.cgroup))
        .map((l) => JSON.stringify([l["msg"], l["outcome"], l["reason"]]));
      throw new Error(
        `${String(err)}; ${c.read("memory", "memory.oom_control").replace(/\n/g, " ")}; limit ${c.read("memory", "memory.limit_in_bytes")}; cgwatch said:\n${mine.join("\n")}`,
      );
    });
    expect(exit).toBe(0);
    expect(await c.logs()).toContain(`hog: done ${HOG_MB} MB`);
    // It finished because cgwatch saw it stall and raised its limit past what the hog needs.
    const mine = (await lines()).filter(
      (l) => l["cgroup"] === c.cgroup || (l["event"] as { cgroup?: string } | undefined)?.cgroup === c.cgroup,
    );
    expect(
      mine.some(
        (l) => l["msg"] === `under_oom in ${c.cgroup}` && (l["event"] as { underOom?: boolean }).underOom === true,
      ),
    ).toBe(true);
    const applied = mine.filter(
      (l) => l["msg"] === "action decision" && l["action"] === "set_memory_limit" && l["outcome"] === "applied",
    );
    expect(applied.length).toBeGreaterThan(0);
    // "after" is what the kernel shows: "memory.limit_in_bytes=N" (with memsw beside it when both moved) or N.
    const limitAfter = (l: Line): number => Number(/(?:^|memory\.limit_in_bytes=)(\d+)/.exec(String(l["after"]))?.[1]);
    expect(Math.max(...applied.map(limitAfter)), JSON.stringify(applied.map((l) => l["after"]))).toBeGreaterThanOrEqual(
      HOG_MB * MB,
    );
    // The image's addon is the prebuilt one, loaded: v1 OOM by eventfd, not polling.
    expect((await lines()).some((l) => String(l["msg"]).startsWith("native addon unavailable"))).toBe(false);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const stop = await e.podman(["stop", "-t", "15", name], 60_000);
    expect(stop.code, stop.stderr).toBe(0);
    const state = await e.podman(["inspect", "--format", "{{.State.ExitCode}}", name]);
    expect(state.stdout.trim()).toBe("0");
  }, 300_000);
});
