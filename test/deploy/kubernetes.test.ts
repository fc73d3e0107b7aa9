/**
 * The Kubernetes manifests, validated offline. `kubectl apply/create
 * --dry-run=client` still asks an API server for its resource mapping, so
 * without a cluster the checks are: `kubectl kustomize` renders the set (it
 * parses every file and resolves the kustomization), plus the structure and
 * cross-references that matter (selectors meet labels, ports meet names,
 * the ConfigMap's config passes cgwatch's own loader, the capabilities are
 * the systemd unit's).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { formatConfigError } from "../../src/config/format.js";
import { loadConfig } from "../../src/config/load.js";

type Obj = Record<string, unknown>;
const dir = path.resolve(import.meta.dirname, "../../deploy/kubernetes");
const repo = path.resolve(import.meta.dirname, "../..");

function docsOf(file: string): Obj[] {
  return parseAllDocuments(fs.readFileSync(path.join(dir, file), "utf8")).map((d) => {
    expect(d.errors, file).toEqual([]);
    return d.toJS() as Obj;
  });
}

const all = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
  .flatMap((f) => docsOf(f).map((d) => ({ file: f, doc: d })));
const byKind = (kind: string): Obj => {
  const hit = all.find((r) => r.doc.kind === kind);
  if (hit === undefined) throw new Error(`no ${kind} manifest`);
  return hit.doc;
};
const get = (o: unknown, ...keys: (string | number)[]): unknown =>
  keys.reduce<unknown>((acc, k) => (acc as Record<string | number, unknown> | undefined)?.[k], o);

/** A container's literal env values (valueFrom entries left out). */
const envOf = (c: Obj): Record<string, string> =>
  Object.fromEntries(
    (c.env as Obj[]).flatMap((e) =>
      typeof e.value === "string" && typeof e.name === "string" ? [[e.name, e.value]] : [],
    ),
  );

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-deploy-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("deploy/kubernetes", () => {
  it("every manifest has apiVersion, kind, metadata.name and the cgwatch namespace", () => {
    expect(all.length).toBeGreaterThanOrEqual(6);
    for (const { file, doc } of all) {
      expect(typeof doc.apiVersion, file).toBe("string");
      expect(typeof doc.kind, file).toBe("string");
      expect(typeof get(doc, "metadata", "name"), file).toBe("string");
      if (doc.kind !== "Namespace") expect(get(doc, "metadata", "namespace"), file).toBe("cgwatch");
    }
  });

  it("kubectl kustomize renders every resource (offline)", () => {
    const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
    if (r.error !== undefined)
      throw new Error("kubectl is not installed: structural checks only would miss kustomization errors");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as Obj).kind);
    expect(new Set(kinds)).toEqual(
      new Set(["Namespace", "ServiceAccount", "ConfigMap", "DaemonSet", "Service", "ServiceMonitor"]),
    );
  });

  it("the DaemonSet: host PID namespace, host cgroupfs writable, node-critical, resources, minimal capabilities", () => {
    const ds = byKind("DaemonSet");
    expect(ds.apiVersion).toBe("apps/v1");
    const pod = get(ds, "spec", "template", "spec") as Obj;
    const sel = get(ds, "spec", "selector", "matchLabels") as Obj;
    const labels = get(ds, "spec", "template", "metadata", "labels") as Obj;
    for (const [k, v] of Object.entries(sel)) expect(labels[k]).toBe(v);
    expect(pod.hostPID).toBe(true);
    expect(pod.priorityClassName).toBe("system-node-critical");
    const c = get(pod, "containers", 0) as Obj;
    const sc = c.securityContext as Obj;
    expect(sc.privileged).toBe(false);
    expect(get(sc, "capabilities", "drop")).toEqual(["ALL"]);
    expect(new Set(get(sc, "capabilities", "add") as string[])).toEqual(
      new Set(["DAC_OVERRIDE", "SYS_RESOURCE", "KILL"]),
    );
    expect(get(c, "resources", "requests", "memory")).toBeDefined();
    expect(get(c, "resources", "limits", "memory")).toBeDefined();
    // No CPU limit: the watchdog must not be throttled itself.
    expect(get(c, "resources", "limits", "cpu")).toBeUndefined();

    const volumes = pod.volumes as Obj[];
    const mounts = c.volumeMounts as Obj[];
    const cg = volumes.find((v) => get(v, "hostPath", "path") === "/sys/fs/cgroup");
    expect(cg).toBeDefined();
    const cgMount = mounts.find((m) => m.name === cg?.name);
    expect(cgMount?.readOnly).not.toBe(true);
    expect(cgMount?.mountPropagation).toBe("HostToContainer");
    const env = envOf(c);
    expect(env.CGWATCH_CGROUP_ROOT).toBe(cgMount?.mountPath);

    // The config file the args name is the ConfigMap's key, where it is mounted.
    const args = c.args as string[];
    const configPath = args[args.indexOf("--config") + 1] ?? "";
    const cfgVolume = volumes.find((v) => v.configMap !== undefined);
    const cfgMount = mounts.find((m) => m.name === cfgVolume?.name);
    expect(path.dirname(configPath)).toBe(cfgMount?.mountPath);
    expect(get(byKind("ConfigMap"), "data", path.basename(configPath))).toBeTypeOf("string");
    expect(get(cfgVolume, "configMap", "name")).toBe(get(byKind("ConfigMap"), "metadata", "name"));
  });

  it("the listen address, the container port, the probes, the Service and the ServiceMonitor agree", () => {
    const ds = byKind("DaemonSet");
    const c = get(ds, "spec", "template", "spec", "containers", 0) as Obj;
    const port = (c.ports as Obj[]).find((p) => p.name === "metrics");
    const env = envOf(c);
    expect(env.CGWATCH_METRICS_LISTEN).toBe(`0.0.0.0:${String(port?.containerPort)}`);
    expect(get(c, "livenessProbe", "httpGet", "path")).toBe("/healthz");
    expect(get(c, "livenessProbe", "httpGet", "port")).toBe("metrics");
    const podLabels = get(ds, "spec", "template", "metadata", "labels") as Obj;
    expect(get(ds, "spec", "template", "metadata", "annotations", "prometheus.io/port")).toBe(
      String(port?.containerPort),
    );

    const svc = byKind("Service");
    for (const [k, v] of Object.entries(get(svc, "spec", "selector") as Obj)) expect(podLabels[k]).toBe(v);
    expect(get(svc, "spec", "clusterIP")).toBe("None");
    const svcPort = (get(svc, "spec", "ports") as Obj[]).find((p) => p.name === "metrics");
    expect(svcPort?.targetPort).toBe("metrics");

    const sm = byKind("ServiceMonitor");
    expect(sm.apiVersion).toBe("monitoring.coreos.com/v1");
    const svcLabels = get(svc, "metadata", "labels") as Obj;
    for (const [k, v] of Object.entries(get(sm, "spec", "selector", "matchLabels") as Obj))
      expect(svcLabels[k]).toBe(v);
    const ep = get(sm, "spec", "endpoints", 0) as Obj;
    expect(ep.port).toBe("metrics");
    const relabel = ep.relabelings as Obj[];
    expect(relabel).toContainEqual({ sourceLabels: ["__meta_kubernetes_pod_node_name"], targetLabel: "instance" });
  });

  it("the ConfigMap's cgwatch.yaml passes cgwatch's own loader (with the DaemonSet's env)", () => {
    const file = path.join(tmp, "cgwatch.yaml");
    fs.writeFileSync(file, get(byKind("ConfigMap"), "data", "cgwatch.yaml") as string);
    fs.mkdirSync(path.join(tmp, "policies"));
    const c = get(byKind("DaemonSet"), "spec", "template", "spec", "containers", 0) as Obj;
    const env = envOf(c);
    // The node's cgroupfs is not here: point the root at a directory that exists.
    const r = loadConfig({
      path: file,
      env: { ...env, CGWATCH_CGROUP_ROOT: tmp },
      builtinPolicyDir: path.join(tmp, "policies"),
    });
    if (r.kind === "error") throw new Error(r.errors.map(formatConfigError).join("\n"));
    expect(r.config.metrics.listen).toEqual({ kind: "tcp", host: "0.0.0.0", port: 9786 });
    // Acting is opt-in: as shipped, the DaemonSet observes every pod and changes none.
    expect(r.config.watch.length).toBeGreaterThan(0);
    expect(r.config.watch.filter((w) => w.act)).toEqual([]);
  });

  it("grants the same capabilities as the systemd unit", () => {
    const unit = fs.readFileSync(path.join(repo, "systemd/cgwatch.service"), "utf8");
    const caps = /^CapabilityBoundingSet=(.*)$/m
      .exec(unit)?.[1]
      ?.split(/\s+/)
      .map((s) => s.replace(/^CAP_/, ""));
    const c = get(
      byKind("DaemonSet"),
      "spec",
      "template",
      "spec",
      "containers",
      0,
      "securityContext",
      "capabilities",
      "add",
    ) as string[];
    expect(new Set(c)).toEqual(new Set(caps));
  });
});
