/**
 * Validation of a policy's `meta` export. The sandbox hands it over as JSON;
 * here it becomes a typed `PolicyMeta` or a message saying which key is wrong,
 * so a typo in `on` fails at load time instead of silently never firing.
 */
import { compileCgroupGlob } from "../cgroup/glob.js";
import { compileSelector, validateSelector, type ContainerView } from "../identity/selector.js";
import { parseDuration } from "../cgroup/parse.js";
import { isEventKind, type EventKind } from "../events/types.js";
import type { MatchEntry, PolicyMeta } from "./types.js";

export type MetaResult = { readonly kind: "ok"; readonly meta: PolicyMeta } | { readonly kind: "invalid"; readonly reason: string };

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const KNOWN_KEYS = new Set(["name", "on", "match", "cooldown", "params", "description"]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function validateMeta(raw: unknown): MetaResult {
  if (!isRecord(raw)) return { kind: "invalid", reason: "`meta` must be an exported object" };
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key)) return { kind: "invalid", reason: `meta.${key}: unknown key (known: ${[...KNOWN_KEYS].join(", ")})` };
  }
  const { name, on, match, cooldown, params, description } = raw;
  if (typeof name !== "string" || !NAME.test(name)) {
    return { kind: "invalid", reason: `meta.name must be a lower-case name matching ${NAME.source}, got ${JSON.stringify(name)}` };
  }
  if (!Array.isArray(on) || on.length === 0) return { kind: "invalid", reason: "meta.on must be a non-empty array of event kinds" };
  const kinds: EventKind[] = [];
  for (const k of on) {
    if (typeof k !== "string" || !isEventKind(k)) return { kind: "invalid", reason: `meta.on: unknown event kind ${JSON.stringify(k)}` };
    if (!kinds.includes(k)) kinds.push(k);
  }
  const globs: MatchEntry[] = [];
  if (match !== undefined) {
    if (!Array.isArray(match) || match.length === 0) return { kind: "invalid", reason: "meta.match must be a non-empty array of cgroup globs or {path, container} selectors" };
    for (const g of match) {
      const entry = validateMatchEntry(g);
      if (typeof entry === "string" && entry.startsWith("!")) return { kind: "invalid", reason: `meta.match: ${entry.slice(1)}` };
      globs.push(entry);
    }
  } else {
    globs.push("**");
  }
  let cooldownMs = 0;
  if (cooldown !== undefined && cooldown !== null) {
    if (typeof cooldown !== "string" && typeof cooldown !== "number") return { kind: "invalid", reason: "meta.cooldown must be a duration (\"30s\") or ms" };
    const parsed = parseDuration(cooldown);
    if (parsed.kind === "malformed") return { kind: "invalid", reason: `meta.cooldown: ${parsed.reason}` };
    cooldownMs = parsed.value;
  }
  if (params !== undefined && !isRecord(params)) return { kind: "invalid", reason: "meta.params must be an object of defaults" };
  if (description !== undefined && typeof description !== "string") return { kind: "invalid", reason: "meta.description must be a string" };
  return {
    kind: "ok",
    meta: { name, on: kinds, match: globs, cooldownMs, params: params ?? {}, description: description ?? null },
  };
}

/** A valid entry, or "!reason" (a glob starting with "!" is no valid cgroup glob either). */
function validateMatchEntry(g: unknown): MatchEntry {
  const glob = (p: string): string | null => {
    try {
      compileCgroupGlob(p);
      return null;
    } catch (e) {
      return `!${e instanceof Error ? e.message : String(e)}`;
    }
  };
  if (typeof g === "string") return glob(g) ?? g;
  if (!isRecord(g)) return `!not a glob string nor a {path, container} object: ${JSON.stringify(g)}`;
  for (const k of Object.keys(g)) if (k !== "path" && k !== "container") return `!unknown key ${JSON.stringify(k)} (known: path, container)`;
  const { path, container } = g;
  if (path === undefined && container === undefined) return "!an entry needs a path glob or a container selector";
  if (path !== undefined && typeof path !== "string") return "!path must be a glob string";
  const bad = path === undefined ? null : glob(path);
  if (bad !== null) return bad;
  if (container === undefined) return { path: path as string };
  const sel = validateSelector(container);
  if (sel.kind === "invalid") return `!${sel.reason}`;
  return path === undefined ? { container: sel.selector } : { path: path, container: sel.selector };
}

/**
 * One matcher for all of a policy's entries. `container` undefined (not
 * known yet) matches on the path alone, so the engine can tell cheaply
 * whether a snapshot is worth reading; evaluation passes the snapshot's.
 */
export function compileMatch(entries: readonly MatchEntry[]): PolicyMatcher {
  const matchers = entries.map((e) => {
    if (typeof e === "string") {
      const m = compileCgroupGlob(e);
      return (cgroup: string) => m(cgroup);
    }
    const path = compileCgroupGlob(e.path ?? "**");
    const container = e.container === undefined ? () => true : compileSelector(e.container);
    return (cgroup: string, c?: ContainerView | null) => path(cgroup) && container(c);
  });
  return (cgroup, c) => matchers.some((m) => m(cgroup, c));
}

export type PolicyMatcher = (cgroup: string, container?: ContainerView | null) => boolean;

/**
 * Config overrides over the policy's defaults, shallowly: a config sets a
 * param, it does not merge into nested objects. Keys the policy does not
 * declare are reported, because they are almost always typos.
 */
export function mergeParams(
  defaults: Readonly<Record<string, unknown>>,
  overrides: Readonly<Record<string, unknown>> | undefined,
): { params: Record<string, unknown>; unknownKeys: string[] } {
  const params: Record<string, unknown> = { ...defaults };
  const unknownKeys: string[] = [];
  for (const [k, v] of Object.entries(overrides ?? {})) {
    if (!(k in defaults)) unknownKeys.push(k);
    params[k] = v;
  }
  return { params, unknownKeys };
}
