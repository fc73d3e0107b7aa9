import { describe, expect, it } from "vitest";
import { compileSelector, validateSelector, type ContainerView } from "../../src/identity/selector.js";
import { compileMatch, validateMeta } from "../../src/policy/meta.js";

const web: ContainerView = {
  engine: "podman",
  name: "web-1",
  image: "localhost/shop/web:1.2",
  pod: null,
  namespace: null,
  labels: { app: "shop", tier: "front" },
};
const api: ContainerView = {
  engine: "cri-o",
  name: "api",
  image: "quay.io/acme/api:3",
  pod: "api-7d9c",
  namespace: "prod",
  labels: { "app.kubernetes.io/name": "api" },
};

describe("container selectors", () => {
  it.each([
    [{ name: "web-*" }, true, false],
    [{ name: "web-?" }, true, false],
    [{ image: "localhost/*" }, true, false],
    [{ image: "*/shop/*" }, true, false],
    [{ engine: "cri-o", namespace: "prod" }, false, true],
    [{ labels: { app: "sh*" } }, true, false],
    [{ labels: { "app.kubernetes.io/name": "api" } }, false, true],
    [{ name: "web-*", engine: "docker" }, false, false],
    [{ pod: "*" }, false, true],
  ])("%j matches web %s, api %s", (sel, onWeb, onApi) => {
    const m = compileSelector(sel);
    expect(m(web)).toBe(onWeb);
    expect(m(api)).toBe(onApi);
    expect(m(null)).toBe(false);
    // Identity not known yet: the path decides.
    expect(m(undefined)).toBe(true);
  });

  it("globs are anchored and regex characters are literal", () => {
    expect(compileSelector({ name: "web" })({ ...web, name: "web-1" })).toBe(false);
    expect(compileSelector({ image: "localhost/shop/web:1.2" })({ ...web, image: "localhost/shop/webX1x2" })).toBe(
      false,
    );
  });

  it.each([
    [{}, /empty container selector/],
    [{ nmae: "x" }, /unknown container key "nmae"/],
    [{ engine: "lxc" }, /unknown engine "lxc"/],
    [{ name: 3 }, /container.name must be a non-empty string glob/],
    [{ labels: ["a"] }, /container.labels must be an object/],
    ["web", /must be an object/],
  ])("rejects %j", (raw, reason) => {
    const r = validateSelector(raw);
    expect(r.kind).toBe("invalid");
    if (r.kind === "invalid") expect(r.reason).toMatch(reason);
  });
});

describe("policy meta.match with container entries", () => {
  const meta = (match: unknown) => validateMeta({ name: "p", on: ["oom_kill"], match });

  it("accepts globs, {container}, {path, container}; the matcher needs both parts", () => {
    const r = meta([
      "system.slice/*.service",
      { container: { name: "web-*" } },
      { path: "kubepods/**", container: { namespace: "prod" } },
    ]);
    expect(r.kind).toBe("ok");
    if (r.kind !== "ok") return;
    const m = compileMatch(r.meta.match);
    expect(m("system.slice/a.service", null)).toBe(true);
    expect(m("x/libpod-1", web)).toBe(true);
    expect(m("x/libpod-1", null)).toBe(false);
    expect(m("kubepods/pod1/abc", api)).toBe(true);
    expect(m("elsewhere/abc", api)).toBe(false);
    // Before the snapshot is read (wantsEvent), a container entry passes on the path.
    expect(m("x/libpod-1")).toBe(true);
  });

  it.each([
    [[{ container: { nmae: "x" } }], /meta.match: unknown container key/],
    [[{ path: "a/../b" }], /meta.match: .*\.\./],
    [[{ paht: "a" }], /meta.match: unknown key "paht"/],
    [[{}], /meta.match: an entry needs a path glob or a container selector/],
    [[42], /meta.match: not a glob string nor/],
  ])("rejects %j", (match, reason) => {
    const r = meta(match);
    expect(r.kind).toBe("invalid");
    if (r.kind === "invalid") expect(r.reason).toMatch(reason);
  });
});

describe("identity as log fields and labels", () => {
  it("a Kubernetes container: pod, namespace, pod uid in the log; cAdvisor's container label", async () => {
    const { identityLabels, identityLogFields, displayName } = await import("../../src/identity/labels.js");
    const id = {
      engine: "containerd",
      id: "c".repeat(64),
      name: "redis",
      image: "docker.io/library/redis:7.4",
      pod: "cache-0",
      namespace: "data",
      podUid: "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
      labels: {},
      resolved: true,
    } as const;
    expect(identityLogFields(id)).toEqual({
      engine: "containerd",
      name: "redis",
      id: "cccccccccccc",
      image: "docker.io/library/redis:7.4",
      pod: "cache-0",
      namespace: "data",
      podUid: "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    });
    expect(identityLabels(id)).toEqual({
      engine: "containerd",
      container_id: "c".repeat(64),
      name: "redis",
      image: "docker.io/library/redis:7.4",
      pod: "cache-0",
      namespace: "data",
      container: "redis",
    });
    expect(displayName("kubepods/x", id)).toBe("data/cache-0/redis");
    const unit = {
      engine: "systemd",
      id: "nginx.service",
      name: "nginx.service",
      image: null,
      pod: null,
      namespace: null,
      podUid: null,
      labels: {},
      resolved: true,
    } as const;
    expect(identityLabels(unit)).toMatchObject({
      engine: "systemd",
      container_id: "",
      name: "nginx.service",
      container: "",
    });
    expect(displayName("system.slice/nginx.service", { ...unit, name: null })).toBe("system.slice/nginx.service");
  });
});
