/**
 * Every log line about a cgroup names its container: a pino child whose log
 * formatter adds `container: {engine, name, id, image, pod, namespace}` to
 * any line that carries a `cgroup` (or an `event` with one). Done once at
 * the logger instead of at each call site, so the executor's, the policy
 * engine's and the watch loop's lines all get it, and new ones will too.
 */
import type { Logger } from "pino";
import { identityLogFields } from "./labels.js";
import type { ContainerIdentity } from "./types.js";

function cgroupOf(obj: Record<string, unknown>): string | null {
  if (typeof obj["cgroup"] === "string") return obj["cgroup"];
  const ev = obj["event"];
  if (typeof ev === "object" && ev !== null && typeof (ev as { cgroup?: unknown }).cgroup === "string")
    return (ev as { cgroup: string }).cgroup;
  return null;
}

/**
 * The `container` field per identity, built on the first line that needs it:
 * an identity is immutable and cached by the resolver, so every later line
 * about the cgroup shares one object instead of building one per line.
 */
const fieldsOf = new WeakMap<ContainerIdentity, Readonly<Record<string, string>>>();

function containerFields(id: ContainerIdentity): Readonly<Record<string, string>> {
  let fields = fieldsOf.get(id);
  if (fields === undefined) {
    fields = Object.freeze(identityLogFields(id));
    fieldsOf.set(id, fields);
  }
  return fields;
}

export function withContainerIdentity(
  logger: Logger,
  identityOf: (cgroup: string) => ContainerIdentity | null,
): Logger {
  return logger.child(
    {},
    {
      formatters: {
        log: (object: object) => {
          const obj = object as Record<string, unknown>;
          if ("container" in obj) return obj;
          const cgroup = cgroupOf(obj);
          const id = cgroup === null ? null : identityOf(cgroup);
          return id === null ? obj : { ...obj, container: containerFields(id) };
        },
      },
    },
  );
}
