/**
 * The engines' own metadata files, parsed. Pure functions from file text to
 * `EngineMetadata`, one per public format:
 *
 * - Docker `<root>/containers/<id>/config.v2.json`: `Name` ("/web-1"),
 *   `Config.Image`, `Config.Labels` (dockershim's `io.kubernetes.*` labels too).
 * - containers/storage (podman) `<root>/<driver>-containers/containers.json`:
 *   an array of `{id, names, image, metadata}` where `metadata` is libpod's
 *   JSON string `{"image-name", "image-id", "name", "created-at"}`.
 * - An OCI runtime spec `config.json` with annotations: containerd's CRI
 *   plugin (`io.kubernetes.cri.container-name`, `.sandbox-name`,
 *   `.sandbox-namespace`, `.sandbox-uid`, `.image-name`, `.container-type`) and
 *   CRI-O (`io.kubernetes.cri-o.Labels` JSON holding the kubelet's
 *   `io.kubernetes.{pod.name,pod.namespace,pod.uid,container.name}`,
 *   `io.kubernetes.cri-o.ImageName`).
 *
 * Malformed text is `null` (the caller keeps the path-only identity), never a throw.
 */
import type { EngineMetadata } from "./types.js";

type Json = Record<string, unknown>;

function parseObject(text: string): Json | null {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === "string") out[k] = val;
  return out;
}

/** The kubelet's container labels, as Docker (dockershim) and CRI-O keep them. */
const K8S = {
  pod: "io.kubernetes.pod.name",
  namespace: "io.kubernetes.pod.namespace",
  podUid: "io.kubernetes.pod.uid",
  container: "io.kubernetes.container.name",
} as const;

export function parseDockerConfigV2(text: string): EngineMetadata | null {
  const doc = parseObject(text);
  if (doc === null) return null;
  const config = isObject(doc["Config"]) ? doc["Config"] : {};
  const labels = stringRecord(config["Labels"]);
  const rawName = str(doc["Name"]);
  return {
    name: labels[K8S.container] ?? (rawName === null ? null : rawName.replace(/^\//, "")),
    image: str(config["Image"]) ?? str(doc["Image"]),
    pod: labels[K8S.pod] ?? null,
    namespace: labels[K8S.namespace] ?? null,
    podUid: labels[K8S.podUid] ?? null,
    labels,
  };
}

/** Every container of containers/storage's containers.json by id, or null when malformed. */
export function parseStorageContainerList(text: string): Map<string, EngineMetadata> | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(doc)) return null;
  const out = new Map<string, EngineMetadata>();
  for (const entry of doc as unknown[]) {
    if (!isObject(entry) || typeof entry["id"] !== "string") continue;
    const names = Array.isArray(entry["names"]) ? entry["names"].filter((n): n is string => typeof n === "string") : [];
    const meta = typeof entry["metadata"] === "string" ? (parseObject(entry["metadata"]) ?? {}) : {};
    out.set(entry["id"], {
      name: names[0] ?? str(meta["name"]),
      image: str(meta["image-name"]),
      pod: null,
      namespace: null,
      podUid: null,
      labels: {},
    });
  }
  return out;
}

/** One container's entry of containers.json: "absent" when the store does not list it, null when malformed. */
export function parseStorageContainers(text: string, id: string): EngineMetadata | "absent" | null {
  const all = parseStorageContainerList(text);
  return all === null ? null : (all.get(id) ?? "absent");
}

/** The annotations of an OCI runtime spec (config.json), or null when malformed. */
export function parseOciAnnotations(text: string): Record<string, string> | null {
  const doc = parseObject(text);
  return doc === null ? null : stringRecord(doc["annotations"]);
}

const CRI = "io.kubernetes.cri.";

export function containerdMetadata(annotations: Readonly<Record<string, string>>): EngineMetadata {
  const type = annotations[`${CRI}container-type`];
  return {
    // A pod's sandbox (pause) container: the kubelet and cAdvisor call it POD.
    name: type === "sandbox" ? "POD" : (annotations[`${CRI}container-name`] ?? annotations["nerdctl/name"] ?? null),
    image: annotations[`${CRI}image-name`] ?? null,
    pod: annotations[`${CRI}sandbox-name`] ?? null,
    namespace: annotations[`${CRI}sandbox-namespace`] ?? null,
    podUid: annotations[`${CRI}sandbox-uid`] ?? null,
    labels: {},
  };
}

const CRIO = "io.kubernetes.cri-o.";

export function crioMetadata(annotations: Readonly<Record<string, string>>): EngineMetadata {
  const labels = stringRecord(parseObject(annotations[`${CRIO}Labels`] ?? "") ?? {});
  const pick = (key: string): string | null => labels[key] ?? annotations[key] ?? null;
  const sandbox = annotations[`${CRIO}ContainerType`] === "sandbox";
  return {
    name: sandbox ? "POD" : (pick(K8S.container) ?? annotations[`${CRIO}ContainerName`] ?? null),
    image: annotations[`${CRIO}ImageName`] ?? annotations[`${CRIO}Image`] ?? null,
    pod: pick(K8S.pod) ?? annotations[`${CRIO}KubeName`] ?? null,
    namespace: pick(K8S.namespace),
    podUid: pick(K8S.podUid),
    labels,
  };
}
