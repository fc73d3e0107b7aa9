/**
 * What a cgroup path alone says about its owner, for the layouts the engines
 * use with both cgroup drivers (reference/containers.md):
 *
 *   podman      <parent>/libpod-<id>            machine.slice/libpod-<id>.scope[/container]
 *   docker      docker/<id>                     system.slice/docker-<id>.scope
 *   containerd  kubepods[/<qos>]/pod<uid>/<id>  kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope
 *   cri-o       kubepods[/<qos>]/pod<uid>/crio-<id>   …pod<uid>.slice/crio-<id>.scope
 *   systemd     system.slice/<unit>.service     …/<unit>.scope
 *
 * Pure: no filesystem. The engines' monitors (`libpod-conmon-<id>`,
 * `crio-conmon-<id>`) are not containers and resolve to null, as does
 * anything else unrecognised.
 */
import type { Engine, PathIdentity } from "./types.js";

const HEX64 = "[0-9a-f]{64}";
const SCOPED: readonly { readonly re: RegExp; readonly engine: Engine }[] = [
  { re: new RegExp(`^libpod-(${HEX64})(?:\\.scope)?$`), engine: "podman" },
  { re: new RegExp(`^docker-(${HEX64})\\.scope$`), engine: "docker" },
  { re: new RegExp(`^cri-containerd-(${HEX64})\\.scope$`), engine: "containerd" },
  { re: new RegExp(`^crio-(${HEX64})(?:\\.scope)?$`), engine: "cri-o" },
];
const BARE_ID = new RegExp(`^${HEX64}$`);
/** cgroupfs `pod<uid>`; systemd `kubepods-<qos>-pod<uid with _ for ->.slice`. */
const POD_UID =
  /^(?:kubepods-(?:[a-z]+-)?)?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;
const SYSTEMD_UNIT = /^[^/]+\.(?:service|scope)$/;

function podUidOf(segments: readonly string[]): string | null {
  for (const s of segments) {
    const m = POD_UID.exec(s);
    if (m?.[1] !== undefined) return m[1].replace(/_/g, "-");
  }
  return null;
}

export function identityFromPath(cgroup: string): PathIdentity | null {
  const segments = cgroup.split("/").filter((s) => s !== "");
  // Podman's systemd layout may nest the payload in a `container` child of the scope.
  const last = segments.at(-1) === "container" && segments.length > 1 ? segments.at(-2) : segments.at(-1);
  if (last === undefined) return null;
  const kubernetes = segments.some((s) => s.startsWith("kubepods"));
  const podUid = kubernetes ? podUidOf(segments) : null;
  for (const { re, engine } of SCOPED) {
    const m = re.exec(last);
    if (m?.[1] !== undefined) return { engine, id: m[1], podUid, kubernetes };
  }
  if (BARE_ID.test(last)) {
    // Bare ids: Docker's cgroupfs layout, or a CRI runtime's under a pod (containerd's
    // cgroupfs driver; dockershim's too, which the metadata lookup tells apart).
    if (kubernetes && podUid !== null) return { engine: "containerd", id: last, podUid, kubernetes };
    if (segments.at(-2) === "docker") return { engine: "docker", id: last, podUid: null, kubernetes: false };
    return null;
  }
  if (SYSTEMD_UNIT.test(last) && !last.includes("-conmon-"))
    return { engine: "systemd", id: last, podUid: null, kubernetes: false };
  return null;
}
