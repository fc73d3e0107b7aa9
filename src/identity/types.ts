/**
 * Who a cgroup is for the operator: the container engine that made it, the
 * container's id, name and image, and for Kubernetes its pod. Resolved
 * read-only from the cgroup path (path.ts) and the engine's own metadata on
 * disk (metadata.ts); every field the path and the metadata cannot tell is
 * null, never guessed.
 */

export type Engine = "docker" | "podman" | "containerd" | "cri-o" | "systemd";
export const ENGINES: readonly Engine[] = ["docker", "podman", "containerd", "cri-o", "systemd"];

/** The metadata part an engine reader returns. */
export interface EngineMetadata {
  /** Container name (podman/docker `--name`, the Kubernetes container name, the systemd unit). */
  readonly name: string | null;
  /** Image reference as the user gave it ("localhost/web:1", "docker.io/library/nginx:1.27"). */
  readonly image: string | null;
  /** Kubernetes pod name, namespace and uid (CRI engines), else null. */
  readonly pod: string | null;
  readonly namespace: string | null;
  readonly podUid: string | null;
  /** Engine labels (Docker `--label`, CRI-O's Kubernetes labels); {} when the metadata has none. */
  readonly labels: Readonly<Record<string, string>>;
}

export interface ContainerIdentity extends EngineMetadata {
  readonly engine: Engine;
  /** The container id (64 hex) for container engines; the unit name for systemd. */
  readonly id: string;
  /** Whether the engine's metadata was found and read (false: path only). */
  readonly resolved: boolean;
}

/** What the cgroup path alone says. */
export interface PathIdentity {
  readonly engine: Engine;
  readonly id: string;
  /** From a Kubernetes pod cgroup segment (`pod<uid>` / `kubepods-<qos>-pod<uid>.slice`). */
  readonly podUid: string | null;
  /** Whether the path is a Kubernetes pod's container (kubepods): the CRI engines' metadata applies. */
  readonly kubernetes: boolean;
}

/** Directories where each engine keeps its metadata (configurable: `identity.roots`). */
export interface IdentityRoots {
  /** Docker's data root: `<root>/containers/<id>/config.v2.json`. */
  readonly docker: readonly string[];
  /** containers/storage graph roots: `<root>/<driver>-containers/containers.json`. */
  readonly podman: readonly string[];
  /** containerd state dirs: `<root>/io.containerd.runtime.v2.task/<namespace>/<id>/config.json`. */
  readonly containerd: readonly string[];
  /** CRI-O storage roots: `<root>/<driver>-containers/<id>/userdata/config.json`. */
  readonly crio: readonly string[];
}

export const DEFAULT_IDENTITY_ROOTS: IdentityRoots = {
  docker: ["/var/lib/docker"],
  podman: ["/var/lib/containers/storage"],
  containerd: ["/run/containerd"],
  crio: ["/run/containers/storage", "/var/lib/containers/storage"],
};
