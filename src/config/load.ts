/**
 * The one way to get a RuntimeConfig (`cgwatch run`, `cgwatch check` and
 * SIGHUP reload all call this): find the file, parse the YAML keeping
 * positions, validate against the schema, apply environment and flag
 * overrides, check the few things only the filesystem can tell (policy
 * directories, a cgroup root), compile. Every problem found is returned,
 * each with the file, line and key, rather than stopping at the first.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod/v4";
import { compileConfig } from "./compile.js";
import { DEFAULT_CONFIG_PATH } from "./defaults.js";
import { keyPathString } from "./format.js";
import { systemdListenFd } from "./listen.js";
import { locate } from "./locate.js";
import { configFileSchema, type ConfigFile } from "./schema.js";
import type { ConfigError, ConfigSource, LoadResult } from "./types.js";

/** Flag values from the command line; each names the flag in its errors. */
export interface ConfigOverrides {
  readonly dryRun?: boolean;
  readonly logLevel?: string;
  readonly metricsListen?: string;
  readonly cgroupRoot?: string;
}

export interface LoadOptions {
  /** --config; wins over CGWATCH_CONFIG. A file named explicitly must exist. */
  readonly path?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly overrides?: ConfigOverrides;
  /** For LISTEN_PID (systemd socket activation); the CLI passes process.pid. */
  readonly pid?: number;
  /** Where the shipped policies live; defaults to `policies/` of the installed package. */
  readonly builtinPolicyDir?: string;
  /** Tests point this elsewhere; without --config/CGWATCH_CONFIG a missing default file means defaults. */
  readonly defaultPath?: string;
}

type Seg = string | number;

/** A per-host override: where it came from and which key of the file it replaces. */
interface Override {
  readonly file: "environment" | "command line";
  readonly key: string;
  readonly path: readonly Seg[];
  readonly value: unknown;
}

const ENV_KEYS: readonly {
  env: string;
  flag: string;
  field: keyof ConfigOverrides;
  path: readonly Seg[];
  bool?: true;
}[] = [
  { env: "CGWATCH_DRY_RUN", flag: "--dry-run", field: "dryRun", path: ["dryRun"], bool: true },
  { env: "CGWATCH_LOG_LEVEL", flag: "--log-level", field: "logLevel", path: ["log", "level"] },
  { env: "CGWATCH_METRICS_LISTEN", flag: "--metrics-listen", field: "metricsListen", path: ["metrics", "listen"] },
  { env: "CGWATCH_CGROUP_ROOT", flag: "--cgroup-root", field: "cgroupRoot", path: ["cgroupRoot"] },
];

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off", ""]);

/** The package's own `policies/`: walk up from this module to cgwatch's package.json (works from src/ and dist/src/). */
export function packagePolicyDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, "utf8")) as { name?: unknown }).name === "cgwatch")
          return path.join(dir, "policies");
      } catch {
        // an unreadable package.json is not ours; keep walking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return "/usr/lib/cgwatch/policies";
    dir = up;
  }
}

function setAt(target: Record<string, unknown>, p: readonly Seg[], value: unknown): void {
  let obj = target;
  for (const seg of p.slice(0, -1)) {
    const next = obj[seg];
    if (next === null || typeof next !== "object" || Array.isArray(next)) obj[seg] = {};
    obj = obj[seg] as Record<string, unknown>;
  }
  obj[String(p[p.length - 1])] = value;
}

function collectOverrides(
  env: Readonly<Record<string, string | undefined>>,
  flags: ConfigOverrides,
  errors: ConfigError[],
): Override[] {
  const out: Override[] = [];
  for (const k of ENV_KEYS) {
    const raw = env[k.env];
    if (raw !== undefined) {
      if (k.bool === true) {
        const v = raw.trim().toLowerCase();
        if (TRUE.has(v)) out.push({ file: "environment", key: k.env, path: k.path, value: true });
        else if (FALSE.has(v)) out.push({ file: "environment", key: k.env, path: k.path, value: false });
        else
          errors.push({
            file: "environment",
            line: null,
            column: null,
            key: k.env,
            message: `expected a boolean (1/0, true/false, yes/no, on/off), got ${JSON.stringify(raw)}`,
          });
      } else {
        out.push({ file: "environment", key: k.env, path: k.path, value: raw });
      }
    }
  }
  // Flags after the environment: the later override wins.
  for (const k of ENV_KEYS) {
    const v = flags[k.field];
    if (v !== undefined) out.push({ file: "command line", key: k.flag, path: k.path, value: v });
  }
  return out;
}

type Issue = z.core.$ZodIssue;

/** A branch that failed only because the value is of another type is not the one the user meant. */
function isTypeMismatchOnly(branch: readonly Issue[]): boolean {
  return branch.every((i) => (i.code === "invalid_type" || i.code === "invalid_union") && i.path.length === 0);
}

/**
 * zod reports a failed union as one issue holding every branch's issues.
 * When exactly one branch got past the type check (an object given where a
 * string-or-object is allowed), its issues are the ones that say what is
 * wrong; otherwise the union's own message ("expected a size ...") is best.
 */
function flattenUnions(issues: readonly Issue[], prefix: readonly PropertyKey[] = []): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const p = [...prefix, ...issue.path];
    if (issue.code === "invalid_union") {
      const meant = issue.errors.filter((b) => !isTypeMismatchOnly(b));
      if (meant.length === 1 && meant[0] !== undefined) {
        out.push(...flattenUnions(meant[0], p));
        continue;
      }
    }
    if (issue.code === "invalid_key") {
      // The key itself is wrong: say why (the key's own check), at the key.
      const why = issue.issues.map((i) => i.message).join("; ");
      out.push({ ...issue, path: p, message: `invalid key ${JSON.stringify(String(p[p.length - 1]))}: ${why}` });
      continue;
    }
    out.push({ ...issue, path: p });
  }
  return out;
}

/** zod issues → located errors, in file order; unknown keys get one error per key, pointing at the key. */
function issuesToErrors(
  issues: readonly Issue[],
  where: (p: readonly Seg[], atKey: boolean) => Omit<ConfigError, "message" | "key">,
): ConfigError[] {
  const out: ConfigError[] = [];
  for (const issue of flattenUnions(issues)) {
    const p = issue.path.filter((s): s is Seg => typeof s !== "symbol");
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys)
        out.push({
          ...where([...p, k], true),
          key: keyPathString([...p, k]),
          message: `unknown key ${JSON.stringify(k)}`,
        });
    } else {
      out.push({ ...where(p, issue.code === "invalid_key"), key: keyPathString(p), message: issue.message });
    }
  }
  return out.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readConfigText(
  opts: LoadOptions,
  env: Readonly<Record<string, string | undefined>>,
):
  | { kind: "text"; file: string; text: string }
  | { kind: "absent"; file: string }
  | { kind: "error"; error: ConfigError } {
  const fromEnv = env.CGWATCH_CONFIG !== undefined && env.CGWATCH_CONFIG !== "" ? env.CGWATCH_CONFIG : undefined;
  const explicit = opts.path ?? fromEnv;
  const file = explicit ?? opts.defaultPath ?? DEFAULT_CONFIG_PATH;
  try {
    return { kind: "text", file, text: fs.readFileSync(file, "utf8") };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && explicit === undefined) return { kind: "absent", file };
    const key = opts.path !== undefined ? "--config" : explicit !== undefined ? "CGWATCH_CONFIG" : "";
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory, not a file"
          : code === "EACCES"
            ? "permission denied"
            : String((e as Error).message);
    return {
      kind: "error",
      error: { file, line: null, column: null, key, message: `cannot read the config file: ${why}` },
    };
  }
}

export function loadConfig(opts: LoadOptions = {}): LoadResult {
  const env = opts.env ?? {};
  const read = readConfigText(opts, env);
  if (read.kind === "error") return { kind: "error", errors: [read.error] };
  const file = read.file;
  const errors: ConfigError[] = [];

  // 1. YAML, keeping positions.
  const lines = new LineCounter();
  let doc: Document | null = null;
  let raw: unknown = {};
  if (read.kind === "text") {
    doc = parseDocument(read.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    for (const e of doc.errors) {
      const { line, col } = lines.linePos(e.pos[0]);
      errors.push({ file, line, column: col, key: "", message: `YAML: ${e.message.split("\n")[0] ?? e.message}` });
    }
    if (errors.length > 0) return { kind: "error", errors };
    // A file of only comments is an empty document: all defaults.
    raw = doc.toJS() ?? {};
  }
  const docAt = doc;
  const where = (p: readonly Seg[], atKey: boolean): Omit<ConfigError, "message" | "key"> => {
    const pos = docAt === null ? null : locate(docAt, lines, p, atKey);
    return { file, line: pos?.line ?? null, column: pos?.column ?? null };
  };

  // 2. The schema, on the file alone, so its errors point into the file.
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) errors.push(...issuesToErrors(parsed.error.issues, where));

  // 3. Overrides, each validated on its own so that its error names the variable or flag.
  const overrides = collectOverrides(env, opts.overrides ?? {}, errors);
  for (const o of overrides) {
    const probe: Record<string, unknown> = {};
    setAt(probe, o.path, o.value);
    const r = configFileSchema.safeParse(probe);
    if (!r.success)
      for (const issue of r.error.issues)
        errors.push({ file: o.file, line: null, column: null, key: o.key, message: issue.message });
  }
  if (errors.length > 0 || !parsed.success) return { kind: "error", errors };

  const merged = structuredClone(parsed.data) as Record<string, unknown>;
  const origin = new Map<string, Override>();
  for (const o of overrides) {
    setAt(merged, o.path, o.value);
    origin.set(keyPathString(o.path), o);
  }
  const final = configFileSchema.parse(merged);

  // 4. What only the filesystem can tell.
  const located = (p: readonly Seg[], message: string): ConfigError => {
    const o = origin.get(keyPathString(p));
    return o === undefined
      ? { ...where(p, false), key: keyPathString(p), message }
      : { file: o.file, line: null, column: null, key: o.key, message };
  };
  const builtinPolicyDir = opts.builtinPolicyDir ?? packagePolicyDir();
  const baseDir = read.kind === "text" ? path.dirname(path.resolve(file)) : null;
  checkFilesystem(final, located, errors, file, builtinPolicyDir, baseDir);
  if (errors.length > 0) return { kind: "error", errors };

  const config = compileConfig(final, {
    baseDir,
    builtinPolicyDir,
    systemdListen: systemdListenFd(env, opts.pid ?? -1),
  });
  const source: ConfigSource = read.kind === "text" ? { kind: "file", path: file } : { kind: "defaults", path: file };
  return {
    kind: "ok",
    config,
    source,
    errorAt: (key, message) => ({ ...where(key, false), key: keyPathString(key), message }),
  };
}

function checkFilesystem(
  cfg: ConfigFile,
  located: (p: readonly Seg[], message: string) => ConfigError,
  errors: ConfigError[],
  file: string,
  builtinDir: string,
  baseDir: string | null,
): void {
  if (cfg.cgroupRoot !== undefined && cfg.cgroupRoot !== "auto" && !isDirectory(cfg.cgroupRoot)) {
    errors.push(located(["cgroupRoot"], `${cfg.cgroupRoot} is not a directory`));
  }
  const p = cfg.policies;
  (p?.dirs ?? []).forEach((d, i) => {
    const abs = path.isAbsolute(d) || baseDir === null ? path.resolve(d) : path.resolve(baseDir, d);
    if (!isDirectory(abs))
      errors.push(located(["policies", "dirs", i], `policy directory ${abs} does not exist or is not a directory`));
  });
  if ((p?.builtin ?? true) && !isDirectory(builtinDir)) {
    const e = located(
      ["policies", "builtin"],
      `the shipped policies directory ${builtinDir} is missing (reinstall cgwatch, or set policies.builtin: false)`,
    );
    errors.push(
      p?.builtin === undefined ? { file, line: null, column: null, key: "policies.builtin", message: e.message } : e,
    );
  }
}
