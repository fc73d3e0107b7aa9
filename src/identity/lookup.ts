/**
 * Finds and reads a container's metadata on disk, read-only, from the
 * configured roots. The edge of the identity module: everything it reads is
 * handed to the pure parsers of metadata.ts.
 *
 * `absent` (no file yet: the engine may write it after creating the cgroup)
 * is worth retrying; `unreadable` (permission, malformed JSON) is not.
 */
import fs from "node:fs";
import path from "node:path";
import {
  containerdMetadata,
  crioMetadata,
  parseDockerConfigV2,
  parseOciAnnotations,
  parseStorageContainerList,
} from "./metadata.js";
import type { Engine, EngineMetadata, IdentityRoots, PathIdentity } from "./types.js";

export type LookupResult =
  | { readonly kind: "found"; readonly engine: Engine; readonly meta: EngineMetadata }
  | { readonly kind: "absent" }
  | { readonly kind: "unreadable"; readonly file: string; readonly reason: string };

type FileRead =
  | { readonly kind: "ok"; readonly text: string }
  | { readonly kind: "absent" }
  | { readonly kind: "error"; readonly reason: string };

function readText(file: string): FileRead {
  try {
    return { kind: "ok", text: fs.readFileSync(file, "utf8") };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { kind: "absent" };
    return { kind: "error", reason: code ?? String(e) };
  }
}

function subdirs(dir: string, suffix = ""): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name.endsWith(suffix))
      .map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
}

/** Tries candidate files in order: the first that exists decides. */
function firstOf(
  engine: Engine,
  files: readonly string[],
  parse: (text: string) => EngineMetadata | "absent" | null,
): LookupResult {
  for (const file of files) {
    const r = readText(file);
    if (r.kind === "absent") continue;
    if (r.kind === "error") return { kind: "unreadable", file, reason: r.reason };
    const meta = parse(r.text);
    if (meta === "absent") continue;
    if (meta === null) return { kind: "unreadable", file, reason: "malformed JSON" };
    return { kind: "found", engine, meta };
  }
  return { kind: "absent" };
}

const docker = (roots: IdentityRoots, id: string): LookupResult =>
  firstOf(
    "docker",
    roots.docker.map((r) => path.join(r, "containers", id, "config.v2.json")),
    parseDockerConfigV2,
  );

/**
 * containers.json lists every container of the store: at startup with many
 * containers, each lookup would read and parse all of it again. Its parse is
 * kept while the file's mtime and size stay the same.
 */
const storageCache = new Map<string, { readonly stamp: string; readonly byId: Map<string, EngineMetadata> | null }>();

function storageLookup(file: string, id: string): LookupResult {
  let stamp: string;
  try {
    const st = fs.statSync(file);
    stamp = `${st.mtimeMs}:${st.size}`;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR"
      ? { kind: "absent" }
      : { kind: "unreadable", file, reason: code ?? String(e) };
  }
  let c = storageCache.get(file);
  if (c?.stamp !== stamp) {
    const r = readText(file);
    if (r.kind === "absent") return { kind: "absent" };
    if (r.kind === "error") return { kind: "unreadable", file, reason: r.reason };
    c = { stamp, byId: parseStorageContainerList(r.text) };
    storageCache.set(file, c);
  }
  if (c.byId === null) return { kind: "unreadable", file, reason: "malformed JSON" };
  const meta = c.byId.get(id);
  return meta === undefined ? { kind: "absent" } : { kind: "found", engine: "podman", meta };
}

const podman = (roots: IdentityRoots, id: string): LookupResult => {
  const files = roots.podman.flatMap((r) => subdirs(r, "-containers").map((d) => path.join(d, "containers.json")));
  for (const file of files) {
    const r = storageLookup(file, id);
    if (r.kind !== "absent") return r;
  }
  return { kind: "absent" };
};

const containerd = (roots: IdentityRoots, id: string): LookupResult =>
  firstOf(
    "containerd",
    roots.containerd.flatMap((r) =>
      ["io.containerd.runtime.v2.task", "io.containerd.runtime.v1.linux"].flatMap((rt) =>
        subdirs(path.join(r, rt)).map((ns) => path.join(ns, id, "config.json")),
      ),
    ),
    (text) => {
      const a = parseOciAnnotations(text);
      return a === null ? null : containerdMetadata(a);
    },
  );

const crio = (roots: IdentityRoots, id: string): LookupResult =>
  firstOf(
    "cri-o",
    roots.crio.flatMap((r) => subdirs(r, "-containers").map((d) => path.join(d, id, "userdata", "config.json"))),
    (text) => {
      const a = parseOciAnnotations(text);
      return a === null ? null : crioMetadata(a);
    },
  );

/** The metadata of the container a cgroup path names, from the engine the path says (or, for a bare id, the engines it may be). */
export function lookupMetadata(p: PathIdentity, roots: IdentityRoots): LookupResult {
  switch (p.engine) {
    case "systemd":
      return {
        kind: "found",
        engine: "systemd",
        meta: { name: p.id, image: null, pod: null, namespace: null, podUid: null, labels: {} },
      };
    case "podman":
      return podman(roots, p.id);
    case "docker":
      return docker(roots, p.id);
    case "cri-o":
      return crio(roots, p.id);
    case "containerd": {
      // A bare id under a pod is containerd's cgroupfs layout, or dockershim's.
      const c = containerd(roots, p.id);
      return c.kind === "absent" && p.kubernetes ? docker(roots, p.id) : c;
    }
  }
}
