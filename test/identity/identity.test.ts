import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { lookupMetadata } from "../../src/identity/lookup.js";
import { parseDockerConfigV2, parseStorageContainers } from "../../src/identity/metadata.js";
import { identityFromPath } from "../../src/identity/path.js";
import { createIdentityResolver } from "../../src/identity/resolver.js";
import type { IdentityRoots } from "../../src/identity/types.js";

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/identity");
const DOCKER = "3f4e8a0c2b1d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7";
const SHIM = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809";
const CTRD = "9b2f6c1e0d3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4";
const CRIO = "5e7d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5";
const PODMAN = "680ac21028b94825a7276c8ac301a9471a3d7c53764c8ef6e566a996a001cf4a";
const ROOTS: IdentityRoots = {
  docker: [path.join(FIX, "docker")],
  podman: [path.join(FIX, "podman")],
  containerd: [path.join(FIX, "containerd")],
  crio: [path.join(FIX, "crio")],
};

describe("identityFromPath", () => {
  it.each([
    [`process_api/x/cgw-parent/libpod-${PODMAN}`, "podman", PODMAN, null],
    [`machine.slice/libpod-${PODMAN}.scope`, "podman", PODMAN, null],
    [`machine.slice/libpod-${PODMAN}.scope/container`, "podman", PODMAN, null],
    [`docker/${DOCKER}`, "docker", DOCKER, null],
    [`system.slice/docker-${DOCKER}.scope`, "docker", DOCKER, null],
    [
      `kubepods/burstable/pod4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f/${CTRD}`,
      "containerd",
      CTRD,
      "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    ],
    [
      `kubepods/pod4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f/${CTRD}`,
      "containerd",
      CTRD,
      "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    ],
    [
      `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod4f1c2d3e_5a6b_4c7d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-${CTRD}.scope`,
      "containerd",
      CTRD,
      "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    ],
    [
      `kubepods.slice/kubepods-pod9d8e7f6a_5b4c_4d3e_8f2a_1b0c9d8e7f6a.slice/crio-${CRIO}.scope`,
      "cri-o",
      CRIO,
      "9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f6a",
    ],
    [
      `kubepods/besteffort/pod9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f6a/crio-${CRIO}`,
      "cri-o",
      CRIO,
      "9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f6a",
    ],
    ["system.slice/postgresql.service", "systemd", "postgresql.service", null],
    ["user.slice/user-1000.slice/session-3.scope", "systemd", "session-3.scope", null],
  ])("%s → %s", (cgroup, engine, id, podUid) => {
    expect(identityFromPath(cgroup)).toMatchObject({ engine, id, podUid });
  });

  it.each([
    "",
    "system.slice",
    "process_api/x/cgw-parent/conmon",
    `machine.slice/libpod-conmon-${PODMAN}.scope`,
    `kubepods.slice/crio-conmon-${CRIO}.scope`,
    `other/${DOCKER}`,
    `docker/${DOCKER.slice(0, 12)}`,
    `docker/${DOCKER.toUpperCase()}`,
  ])("%j names no container", (cgroup) => {
    expect(identityFromPath(cgroup)).toBeNull();
  });
});

describe("metadata parsers", () => {
  it("reads Docker's Name without its slash, Config.Image and labels", () => {
    const m = parseDockerConfigV2(
      fs.readFileSync(path.join(FIX, "docker/containers", DOCKER, "config.v2.json"), "utf8"),
    );
    expect(m).toMatchObject({
      name: "shop-web-1",
      image: "nginx:1.27",
      pod: null,
      labels: { "com.docker.compose.service": "web" },
    });
  });
  it("returns null for malformed text, not a throw", () => {
    expect(parseDockerConfigV2("{not json")).toBeNull();
    expect(parseDockerConfigV2("[]")).toBeNull();
    expect(parseStorageContainers("{}", PODMAN)).toBeNull();
    expect(parseStorageContainers("[]", PODMAN)).toBe("absent");
  });
});

describe("lookupMetadata on captured engine metadata", () => {
  const resolve = (cgroup: string) => {
    const p = identityFromPath(cgroup);
    if (p === null) throw new Error("no path identity");
    return lookupMetadata(p, ROOTS);
  };
  it("podman: containers/storage's containers.json (captured from podman 4.3)", () => {
    expect(resolve(`cgp/libpod-${PODMAN}`)).toEqual({
      kind: "found",
      engine: "podman",
      meta: { name: "web-1", image: "localhost/cgwid:1", pod: null, namespace: null, podUid: null, labels: {} },
    });
  });
  it("docker: config.v2.json, both drivers", () => {
    for (const c of [`docker/${DOCKER}`, `system.slice/docker-${DOCKER}.scope`]) {
      expect(resolve(c)).toMatchObject({
        kind: "found",
        engine: "docker",
        meta: { name: "shop-web-1", image: "nginx:1.27" },
      });
    }
  });
  it("containerd CRI: the task's config.json annotations", () => {
    expect(
      resolve(
        `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod4f1c2d3e_5a6b_4c7d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-${CTRD}.scope`,
      ),
    ).toEqual({
      kind: "found",
      engine: "containerd",
      meta: {
        name: "redis",
        image: "docker.io/library/redis:7.4",
        pod: "cache-0",
        namespace: "data",
        podUid: "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        labels: {},
      },
    });
  });
  it("containerd CRI: the pod's sandbox is POD", () => {
    expect(resolve(`kubepods/burstable/pod4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f/${CRIO}`)).toMatchObject({
      kind: "found",
      engine: "containerd",
      meta: { name: "POD", pod: "cache-0" },
    });
  });
  it("dockershim: a bare id under a pod found in Docker's store, named from the kubelet's labels", () => {
    expect(resolve(`kubepods/burstable/pod0c7a5e3c-1b2d-4e5f-8a9b-0c1d2e3f4a5b/${SHIM}`)).toMatchObject({
      kind: "found",
      engine: "docker",
      meta: {
        name: "api",
        pod: "api-7d9c5b6f4-x2x8q",
        namespace: "prod",
        podUid: "0c7a5e3c-1b2d-4e5f-8a9b-0c1d2e3f4a5b",
      },
    });
  });
  it("cri-o: userdata/config.json annotations and its Labels JSON", () => {
    expect(
      resolve(`kubepods.slice/kubepods-pod9d8e7f6a_5b4c_4d3e_8f2a_1b0c9d8e7f6a.slice/crio-${CRIO}.scope`),
    ).toMatchObject({
      kind: "found",
      engine: "cri-o",
      meta: {
        name: "prometheus",
        image: "quay.io/prometheus/prometheus:v3.1.0",
        pod: "prometheus-k8s-0",
        namespace: "monitoring",
        podUid: "9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f6a",
        labels: { "app.kubernetes.io/name": "prometheus" },
      },
    });
  });
  it("an id no engine knows is absent", () => {
    expect(resolve(`docker/${"0".repeat(64)}`)).toEqual({ kind: "absent" });
  });
});

describe("identity resolver", () => {
  const tmp: string[] = [];
  afterEach(() => {
    for (const d of tmp.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  const dockerRoot = (): string => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "cgw-identity-"));
    tmp.push(d);
    return d;
  };
  const writeDocker = (root: string, id: string, text: string): void => {
    fs.mkdirSync(path.join(root, "containers", id), { recursive: true });
    fs.writeFileSync(path.join(root, "containers", id, "config.v2.json"), text);
  };

  it("caches per cgroup: one lookup however often it is asked", () => {
    let lookups = 0;
    const r = createIdentityResolver({
      roots: ROOTS,
      persistent: false,
      lookup: (p, roots) => (lookups++, lookupMetadata(p, roots)),
    });
    for (let i = 0; i < 5; i++) expect(r.resolve(`docker/${DOCKER}`)?.name).toBe("shop-web-1");
    expect(r.resolve("a/b")).toBeNull();
    expect(lookups).toBe(1);
    r.close();
  });

  it("re-tries briefly when the metadata appears after the cgroup, and reports the late identity", async () => {
    const root = dockerRoot();
    const late: string[] = [];
    const r = createIdentityResolver({
      roots: { ...ROOTS, docker: [root] },
      retryDelaysMs: [20, 20, 20],
      persistent: false,
      onResolved: (c, id) => late.push(`${c}=${id.name ?? ""}`),
    });
    const first = r.resolve(`docker/${DOCKER}`);
    expect(first).toMatchObject({ engine: "docker", id: DOCKER, name: null, resolved: false });
    writeDocker(root, DOCKER, fs.readFileSync(path.join(FIX, "docker/containers", DOCKER, "config.v2.json"), "utf8"));
    await expect.poll(() => late, { timeout: 5000 }).toEqual([`docker/${DOCKER}=shop-web-1`]);
    expect(r.get(`docker/${DOCKER}`)).toMatchObject({ name: "shop-web-1", resolved: true });
    r.close();
  });

  it("gives up after the last re-try: path-only, no error loop", async () => {
    let lookups = 0;
    const r = createIdentityResolver({
      roots: ROOTS,
      retryDelaysMs: [5, 5],
      persistent: false,
      lookup: () => (lookups++, { kind: "absent" }),
    });
    r.resolve(`docker/${DOCKER}`);
    await new Promise((res) => setTimeout(res, 100));
    expect(lookups).toBe(3);
    r.close();
  });

  it("malformed metadata: said once, path-only, never re-tried", async () => {
    const root = dockerRoot();
    writeDocker(root, DOCKER, '{"Name": "/half');
    const said: string[] = [];
    const r = createIdentityResolver({
      roots: { ...ROOTS, docker: [root] },
      retryDelaysMs: [5, 5],
      persistent: false,
      onUnreadable: (c, f, reason) => said.push(`${path.basename(f)}: ${reason}`),
    });
    expect(r.resolve(`docker/${DOCKER}`)).toMatchObject({ engine: "docker", id: DOCKER, name: null, resolved: false });
    await new Promise((res) => setTimeout(res, 50));
    expect(said).toEqual(["config.v2.json: malformed JSON"]);
    r.close();
  });

  it("podman: containers.json is parsed once per version of the file, and a new container in it is found", () => {
    const root = dockerRoot();
    const dir = path.join(root, "overlay-containers");
    fs.mkdirSync(dir);
    const entry = (id: string, name: string) => ({
      id,
      names: [name],
      image: "x",
      metadata: JSON.stringify({ "image-name": `localhost/${name}:1`, name }),
    });
    const A = "a".repeat(64);
    const B = "b".repeat(64);
    fs.writeFileSync(path.join(dir, "containers.json"), JSON.stringify([entry(A, "one")]));
    const roots = { ...ROOTS, podman: [root] };
    expect(lookupMetadata({ engine: "podman", id: A, podUid: null, kubernetes: false }, roots)).toMatchObject({
      kind: "found",
      meta: { name: "one", image: "localhost/one:1" },
    });
    expect(lookupMetadata({ engine: "podman", id: B, podUid: null, kubernetes: false }, roots)).toEqual({
      kind: "absent",
    });
    fs.writeFileSync(path.join(dir, "containers.json"), JSON.stringify([entry(A, "one"), entry(B, "two")]));
    expect(lookupMetadata({ engine: "podman", id: B, podUid: null, kubernetes: false }, roots)).toMatchObject({
      kind: "found",
      meta: { name: "two" },
    });
    fs.writeFileSync(path.join(dir, "containers.json"), "[{broken");
    expect(lookupMetadata({ engine: "podman", id: B, podUid: null, kubernetes: false }, roots)).toMatchObject({
      kind: "unreadable",
      reason: "malformed JSON",
    });
  });

  it("forget() stops a pending re-try and drops the cache", async () => {
    let lookups = 0;
    const r = createIdentityResolver({
      roots: ROOTS,
      retryDelaysMs: [20],
      persistent: false,
      lookup: () => (lookups++, { kind: "absent" }),
    });
    r.resolve(`docker/${DOCKER}`);
    r.forget(`docker/${DOCKER}`);
    await new Promise((res) => setTimeout(res, 60));
    expect(lookups).toBe(1);
    expect(r.get(`docker/${DOCKER}`)).toBeNull();
  });
});
