/**
 * An identity as metric labels and as log fields: one spelling of each for
 * the whole program, so a dashboard's `name` and a log line's `container.name`
 * are the same string.
 */
import type { IdentityLabelValues } from "../metrics/names.js";
import type { ContainerSnapshot } from "../cgroup/snapshot.js";
import type { ContainerIdentity } from "./types.js";

/** cgwatch_cgroup_info's identity labels; "" where unknown (Prometheus drops empty labels). */
export function identityLabels(id: ContainerIdentity | null): IdentityLabelValues | null {
  if (id === null) return null;
  const container = id.engine !== "systemd";
  return {
    engine: id.engine,
    container_id: container ? id.id : "",
    name: id.name ?? "",
    image: id.image ?? "",
    pod: id.pod ?? "",
    namespace: id.namespace ?? "",
    // Kubernetes' container name (cAdvisor/kubelet `container`), only for pods.
    container: id.pod !== null ? (id.name ?? "") : "",
  };
}

/** The `container` object of log lines: the fields that are known, short id first. */
export function identityLogFields(id: ContainerIdentity): Record<string, string> {
  const out: Record<string, string> = { engine: id.engine };
  if (id.name !== null) out["name"] = id.name;
  if (id.engine !== "systemd") out["id"] = id.id.slice(0, 12);
  if (id.image !== null) out["image"] = id.image;
  if (id.pod !== null) out["pod"] = id.pod;
  if (id.namespace !== null) out["namespace"] = id.namespace;
  if (id.podUid !== null) out["podUid"] = id.podUid;
  return out;
}

/** How a log message names the cgroup: its container name when known, else its path. */
export function displayName(cgroup: string, id: ContainerIdentity | null): string {
  if (id?.name == null) return cgroup;
  return id.pod !== null ? `${id.namespace ?? ""}/${id.pod}/${id.name}` : id.name;
}

/** The policy snapshot's `container` (policies/cgwatch-policy.d.ts ContainerSnapshot). */
export function containerSnapshot(id: ContainerIdentity | null): ContainerSnapshot | null {
  if (id === null) return null;
  return {
    engine: id.engine,
    id: id.id,
    name: id.name,
    image: id.image,
    pod: id.pod,
    namespace: id.namespace,
    labels: id.labels,
  };
}
