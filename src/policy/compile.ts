/**
 * Compiling a policy: evaluate the module in a fresh sandbox and validate its
 * `meta`. `compilePolicies` is what `cgwatch check` runs: everything the
 * daemon would load, compiled the same way, then thrown away; `cgwatch run`
 * keeps the sandboxes instead (`keep`) and hands them to the engine.
 */
import { locateMetaProblem, mergeParams, validateMeta, type MetaProblem } from "./meta.js";
import { listPolicyFiles, readPolicySource, type PolicySource } from "./load.js";
import { PrecompiledPolicies } from "./precompiled.js";
import { compileError, PolicySandbox } from "./sandbox.js";
import { DEFAULT_LIMITS, type PolicyCompileError, type PolicyLimits, type PolicyMeta } from "./types.js";

export type CompiledPolicy =
  | { readonly kind: "ok"; readonly sandbox: PolicySandbox; readonly meta: PolicyMeta }
  /**
   * `errors` has every problem, each located (what `cgwatch check` prints,
   * one line each); `error` is one error for the file that names them all
   * (what the engine reports and logs): the first one's position, and every
   * other problem with its line:col in the message.
   */
  | { readonly kind: "error"; readonly error: PolicyCompileError; readonly errors: readonly PolicyCompileError[] };

/** The located meta problems as one error per problem, and one that names them all. */
function metaErrors(
  src: PolicySource,
  problems: readonly MetaProblem[],
): { error: PolicyCompileError; errors: PolicyCompileError[] } {
  const located = problems.map((p) => ({ p, at: locateMetaProblem(src.source, p) }));
  const errors = located.map(({ p, at }) => compileError(src.file, p.message, at));
  const first = located[0];
  const message = located
    .map(({ p, at }, i) => (i === 0 || at === null ? p.message : `${p.message} (at ${at.line}:${at.column})`))
    .join("; ");
  return { error: compileError(src.file, message, first?.at ?? null), errors };
}

export async function compilePolicy(src: PolicySource, limits: PolicyLimits): Promise<CompiledPolicy> {
  const created = await PolicySandbox.create(src.source, src.file, limits);
  if (created.kind === "error") return { kind: "error", error: created.error, errors: [created.error] };
  let raw: unknown;
  try {
    raw = JSON.parse(created.metaJson);
  } catch {
    raw = null;
  }
  if (typeof raw === "object" && raw !== null && "tooLarge" in raw) {
    created.sandbox.dispose();
    const error = compileError(
      src.file,
      "`meta` is too large",
      locateMetaProblem(src.source, { key: null, message: "" }),
    );
    return { kind: "error", error, errors: [error] };
  }
  const meta = validateMeta(raw);
  if (meta.kind === "invalid") {
    created.sandbox.dispose();
    return { kind: "error", ...metaErrors(src, meta.problems) };
  }
  return { kind: "ok", sandbox: created.sandbox, meta: meta.meta };
}

export interface CheckedPolicy {
  readonly file: string;
  readonly meta: PolicyMeta;
  /** Config param keys the policy does not declare (likely typos). */
  readonly unknownParams: readonly string[];
}

export interface CompilePoliciesOptions {
  readonly files?: readonly string[];
  readonly params?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly limits?: Partial<PolicyLimits>;
  /** Keep each good policy's sandbox (in `precompiled`, which the caller must release) instead of disposing it. */
  readonly keep?: boolean;
}

/**
 * Compile every policy in `dirs` (and `files`) without starting anything; for `cgwatch check`, and
 * for `cgwatch run` with `keep` (`precompiled` is then the caller's to hand on or release; null without `keep`).
 */
export async function compilePolicies(
  dirs: readonly string[],
  opts: CompilePoliciesOptions = {},
): Promise<{ policies: CheckedPolicy[]; errors: PolicyCompileError[]; precompiled: PrecompiledPolicies | null }> {
  const limits: PolicyLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const precompiled = opts.keep === true ? new PrecompiledPolicies(limits) : null;
  const listed = listPolicyFiles(dirs, opts.files ?? []);
  const errors = [...listed.errors];
  const policies: CheckedPolicy[] = [];
  const names = new Map<string, string>();
  for (const file of listed.files) {
    const read = readPolicySource(file);
    if (read.kind === "error") {
      errors.push(read.error);
      continue;
    }
    const compiled = await compilePolicy(read.source, limits);
    if (compiled.kind === "error") {
      errors.push(...compiled.errors);
      continue;
    }
    const { meta } = compiled;
    const other = names.get(meta.name);
    if (other !== undefined || precompiled === null) compiled.sandbox.dispose();
    else precompiled.add(read.source, compiled);
    if (other !== undefined) {
      errors.push(compileError(file, `policy name "${meta.name}" is already used by ${other}`, null));
      continue;
    }
    names.set(meta.name, file);
    policies.push({ file, meta, unknownParams: mergeParams(meta.params, opts.params?.[meta.name]).unknownKeys });
  }
  for (const name of Object.keys(opts.params ?? {})) {
    if (!names.has(name)) errors.push(compileError("config", `params given for unknown policy "${name}"`, null));
  }
  return { policies, errors, precompiled };
}
