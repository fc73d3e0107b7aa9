/**
 * Validation of a policy's `meta` export. The sandbox hands it over as JSON;
 * here it becomes a typed `PolicyMeta` or a message saying which key is wrong,
 * so a typo in `on` fails at load time instead of silently never firing.
 */
import { compileCgroupGlob } from "../cgroup/glob.js";
import { normaliseCgroupPath } from "../cgroup/paths.js";
import { compileSelector, validateSelector, type ContainerView } from "../identity/selector.js";
import { parseDuration } from "../cgroup/parse.js";
import { isEventKind, type EventKind } from "../events/types.js";
import {
  FILTER_KEYS,
  isSampleCondition,
  SAMPLE_CONDITIONS,
  type FilteredKind,
  type FilterKey,
  type SampleCondition,
} from "./sampleFilter.js";
import type { MatchEntry, PolicyMeta } from "./types.js";

/**
 * One thing wrong with `meta`: the top-level key it is about (null: `meta`
 * itself) and, for a bad element of an array, the offending value, so the
 * compiler can point at it in the source (locateMetaProblem).
 */
export interface MetaProblem {
  readonly key: string | null;
  readonly value?: unknown;
  readonly message: string;
}

export type MetaResult =
  | { readonly kind: "ok"; readonly meta: PolicyMeta }
  /** `reason` joins every problem's message; `problems` lists them all. */
  | { readonly kind: "invalid"; readonly reason: string; readonly problems: readonly MetaProblem[] };

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const KNOWN_KEYS = new Set(["name", "on", "match", "cooldown", "params", "description", "sampleOnly", "addedOnly"]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks every key and reports every problem, not only the first: a policy author fixes them in one go. */
export function validateMeta(raw: unknown): MetaResult {
  const problems: MetaProblem[] = [];
  const problem = (key: string | null, message: string, value?: unknown): void => {
    problems.push(value === undefined ? { key, message } : { key, value, message });
  };
  if (!isRecord(raw)) {
    problem(null, "`meta` must be an exported object");
    return invalid(problems);
  }
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key)) problem(key, `meta.${key}: unknown key (known: ${[...KNOWN_KEYS].join(", ")})`);
  }
  const { name, on, match, cooldown, params, description } = raw;
  if (typeof name !== "string" || !NAME.test(name)) {
    problem(
      name === undefined ? null : "name",
      `meta.name must be a lower-case name matching ${NAME.source}, got ${JSON.stringify(name)}`,
    );
  }
  const kinds: EventKind[] = [];
  if (!Array.isArray(on) || on.length === 0)
    problem(on === undefined ? null : "on", "meta.on must be a non-empty array of event kinds");
  else {
    for (const k of on) {
      if (typeof k !== "string" || !isEventKind(k))
        problem("on", `meta.on: unknown event kind ${JSON.stringify(k)}`, k);
      else if (!kinds.includes(k)) kinds.push(k);
    }
  }
  const globs: MatchEntry[] = [];
  if (match !== undefined) {
    if (!Array.isArray(match) || match.length === 0)
      problem("match", "meta.match must be a non-empty array of cgroup globs or {path, container} selectors");
    else {
      for (const g of match) {
        const entry = validateMatchEntry(g);
        if (typeof entry === "string" && entry.startsWith("!")) problem("match", `meta.match: ${entry.slice(1)}`, g);
        else globs.push(entry);
      }
    }
  } else {
    globs.push("**");
  }
  let cooldownMs = 0;
  if (cooldown !== undefined && cooldown !== null) {
    if (typeof cooldown !== "string" && typeof cooldown !== "number")
      problem("cooldown", 'meta.cooldown must be a duration ("30s") or ms');
    else {
      const parsed = parseDuration(cooldown);
      if (parsed.kind === "malformed") problem("cooldown", `meta.cooldown: ${parsed.reason}`);
      else cooldownMs = parsed.value;
    }
  }
  if (params !== undefined && !isRecord(params)) problem("params", "meta.params must be an object of defaults");
  if (description !== undefined && typeof description !== "string")
    problem("description", "meta.description must be a string");
  const filters = validateFilters(raw, kinds, problem);
  if (problems.length > 0 || typeof name !== "string") return invalid(problems);
  const meta: PolicyMeta = {
    name,
    on: kinds,
    match: globs,
    cooldownMs,
    params: isRecord(params) ? params : {},
    description: typeof description === "string" ? description : null,
  };
  return { kind: "ok", meta: { ...meta, ...filters } };
}

type Problem = (key: string | null, message: string, value?: unknown) => void;

/** `meta.sampleOnly` and `meta.addedOnly`, each where given. */
function validateFilters(
  raw: Record<string, unknown>,
  on: readonly EventKind[],
  problem: Problem,
): Partial<Record<FilterKey, SampleCondition[]>> {
  const out: Partial<Record<FilterKey, SampleCondition[]>> = {};
  for (const kind of Object.keys(FILTER_KEYS) as FilteredKind[]) {
    const key = FILTER_KEYS[kind];
    if (raw[key] !== undefined) out[key] = validateFilter(key, kind, raw[key], on, problem);
  }
  return out;
}

/** One filter key: a non-empty list of known conditions, only where the policy listens to the kind it filters. */
function validateFilter(
  key: FilterKey,
  kind: FilteredKind,
  raw: unknown,
  on: readonly EventKind[],
  problem: Problem,
): SampleCondition[] {
  const known = Object.keys(SAMPLE_CONDITIONS).join(", ");
  const out: SampleCondition[] = [];
  if (!Array.isArray(raw) || raw.length === 0) {
    problem(key, `meta.${key} must be a non-empty array of conditions (${known})`);
    return out;
  }
  for (const c of raw) {
    if (!isSampleCondition(c)) problem(key, `meta.${key}: unknown condition ${JSON.stringify(c)} (known: ${known})`, c);
    else if (!out.includes(c)) out.push(c);
  }
  if (out.includes("memory_v1") && out.includes("memory_v2"))
    problem(key, `meta.${key}: memory_v1 and memory_v2 together match no cgroup`);
  if (out.includes("memory_v1") && out.includes("memory_psi"))
    problem(key, `meta.${key}: memory_v1 and memory_psi together match no cgroup (v1 has no per-cgroup PSI)`);
  if (kind !== "sample" && out.includes("memory_psi"))
    problem(key, `meta.${key}: memory_psi is carried by samples only; a \`${kind}\` never has it`, "memory_psi");
  if (!on.includes(kind)) problem(key, `meta.${key} filters \`${kind}\` events, but meta.on does not list "${kind}"`);
  return out;
}

function invalid(problems: readonly MetaProblem[]): MetaResult {
  return { kind: "invalid", reason: problems.map((p) => p.message).join("; "), problems };
}

/** 1-based line and column of a string offset. */
function lineCol(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Where a meta problem is in the policy's source: the offending array
 * element, else its key, else the `meta` declaration; null when `meta` is
 * not declared literally (the sandbox only hands over its JSON value, so
 * this is a textual search after `export const meta =`).
 */
export function locateMetaProblem(source: string, problem: MetaProblem): { line: number; column: number } | null {
  const decl = /\bexport\s+(?:const|let|var)\s+meta\b/.exec(source);
  if (decl === null) return null;
  if (problem.key === null) return lineCol(source, decl.index);
  const keyRe = new RegExp(`(?:[{,\\s])(["']?)${escapeRe(problem.key)}\\1\\s*:`, "g");
  keyRe.lastIndex = decl.index;
  const key = keyRe.exec(source);
  if (key === null) return lineCol(source, decl.index);
  const keyAt = key.index + 1;
  if (typeof problem.value === "string") {
    const v = problem.value;
    const candidates = [JSON.stringify(v), `'${v}'`, `\`${v}\``]
      .map((lit) => source.indexOf(lit, keyAt))
      .filter((i) => i >= 0);
    if (candidates.length > 0) return lineCol(source, Math.min(...candidates));
  }
  return lineCol(source, keyAt);
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
  for (const k of Object.keys(g))
    if (k !== "path" && k !== "container") return `!unknown key ${JSON.stringify(k)} (known: path, container)`;
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
  // Every shipped policy matches "**": answered without splitting the path on each event.
  if (entries.some((e) => typeof e === "string" && matchesAll(e))) return () => true;
  const matchers = entries.map((e) => {
    if (typeof e === "string") {
      const m = compileCgroupGlob(e);
      return (cgroup: string) => m(cgroup);
    }
    const path = compileCgroupGlob(e.path ?? "**");
    const container = e.container === undefined ? () => true : compileSelector(e.container);
    return (cgroup: string, c?: ContainerView | null) => path(cgroup) && container(c);
  });
  return (cgroup, c) => {
    for (const m of matchers) if (m(cgroup, c)) return true;
    return false;
  };
}

/** A glob of only `**` segments matches every cgroup, the root included. */
function matchesAll(glob: string): boolean {
  const segs = normaliseCgroupPath(glob)
    .split("/")
    .filter((s) => s !== "");
  return segs.length > 0 && segs.every((s) => s === "**");
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
