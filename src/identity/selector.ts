/**
 * Matching cgroups by who they are, not only by path: a container selector
 * `{ engine, name, image, pod, namespace, labels }` as watch rules
 * (`watch[].container`) and policies (`meta.match[].container`) write it.
 * Every given field must match; string values are globs where `*` matches
 * any run of characters (slashes too: images have them) and `?` one;
 * `labels` values are globs over the engine's labels.
 *
 * A matcher asked about a cgroup whose identity is not known yet
 * (`undefined`) answers by the path alone: the policy engine uses that to
 * decide whether a snapshot is worth reading at all.
 */
import { ENGINES } from "./types.js";

export interface ContainerSelector {
  readonly engine?: string;
  readonly name?: string;
  readonly image?: string;
  readonly pod?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** What a selector looks at: the policy snapshot's `container` has exactly this shape. */
export interface ContainerView {
  readonly engine: string;
  readonly name: string | null;
  readonly image: string | null;
  readonly pod: string | null;
  readonly namespace: string | null;
  readonly labels: Readonly<Record<string, string>>;
}

/** null: the cgroup is no container; undefined: not known (yet). */
export type ContainerMatcher = (c: ContainerView | null | undefined) => boolean;

const FIELDS = ["engine", "name", "image", "pod", "namespace"] as const;
const KEYS = new Set<string>([...FIELDS, "labels"]);

export function globRegex(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\/]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "s");
}

export function compileSelector(sel: ContainerSelector): ContainerMatcher {
  const fields = FIELDS.flatMap((f) => {
    const g = sel[f];
    return g === undefined ? [] : [{ field: f, re: globRegex(g) }];
  });
  const labels = Object.entries(sel.labels ?? {}).map(([k, g]) => ({ key: k, re: globRegex(g) }));
  return (c) => {
    if (c === undefined) return true;
    if (c === null) return false;
    for (const { field, re } of fields) {
      const v = c[field];
      if (v === null || !re.test(v)) return false;
    }
    for (const { key, re } of labels) {
      const v = c.labels[key];
      if (v === undefined || !re.test(v)) return false;
    }
    return true;
  };
}

export type SelectorResult =
  { readonly kind: "ok"; readonly selector: ContainerSelector } | { readonly kind: "invalid"; readonly reason: string };

/** Validates a selector given as data (a policy's meta). The config's zod schema checks the same shape. */
export function validateSelector(raw: unknown): SelectorResult {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    return { kind: "invalid", reason: "a container selector must be an object" };
  const o = raw as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 0)
    return {
      kind: "invalid",
      reason: `an empty container selector matches everything; give one of ${[...KEYS].join(", ")}`,
    };
  for (const k of keys)
    if (!KEYS.has(k))
      return { kind: "invalid", reason: `unknown container key ${JSON.stringify(k)} (known: ${[...KEYS].join(", ")})` };
  for (const f of FIELDS) {
    if (o[f] !== undefined && (typeof o[f] !== "string" || o[f] === ""))
      return { kind: "invalid", reason: `container.${f} must be a non-empty string glob` };
  }
  if (
    o["engine"] !== undefined &&
    !/[*?]/.test(o["engine"] as string) &&
    !(ENGINES as readonly string[]).includes(o["engine"] as string)
  ) {
    return {
      kind: "invalid",
      reason: `container.engine: unknown engine ${JSON.stringify(o["engine"])} (known: ${ENGINES.join(", ")})`,
    };
  }
  const labels = o["labels"];
  if (labels !== undefined) {
    if (typeof labels !== "object" || labels === null || Array.isArray(labels))
      return { kind: "invalid", reason: "container.labels must be an object of label globs" };
    for (const [k, v] of Object.entries(labels))
      if (typeof v !== "string") return { kind: "invalid", reason: `container.labels.${k} must be a string glob` };
  }
  return { kind: "ok", selector: o };
}
