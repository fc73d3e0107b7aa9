/**
 * Compiling a policy: evaluate the module in a fresh sandbox and validate its
 * `meta`. `compilePolicies` is what `cgwatch check` runs: everything the
 * daemon would load, compiled the same way, then thrown away.
 */
import { mergeParams, validateMeta } from "./meta.js";
import { listPolicyFiles, readPolicySource, type PolicySource } from "./load.js";
import { compileError, PolicySandbox } from "./sandbox.js";
import { DEFAULT_LIMITS, type PolicyCompileError, type PolicyLimits, type PolicyMeta } from "./types.js";

export type CompiledPolicy =
  | { readonly kind: "ok"; readonly sandbox: PolicySandbox; readonly meta: PolicyMeta }
  | { readonly kind: "error"; readonly error: PolicyCompileError };

export async function compilePolicy(src: PolicySource, limits: PolicyLimits): Promise<CompiledPolicy> {
  const created = await PolicySandbox.create(src.source, src.file, limits);
  if (created.kind === "error") return created;
  let raw: unknown;
  try {
    raw = JSON.parse(created.metaJson);
  } catch {
    raw = null;
  }
  if (typeof raw === "object" && raw !== null && "big" in raw) {
    created.sandbox.dispose();
    return { kind: "error", error: compileError(src.file, "`meta` is too large", null) };
  }
  const meta = validateMeta(raw);
  if (meta.kind === "invalid") {
    created.sandbox.dispose();
    return { kind: "error", error: compileError(src.file, meta.reason, null) };
  }
  return { kind: "ok", sandbox: created.sandbox, meta: meta.meta };
}

export interface CheckedPolicy {
  readonly file: string;
  readonly meta: PolicyMeta;
  /** Config param keys the policy does not declare (likely typos). */
  readonly unknownParams: readonly string[];
}

/** Compile every policy in `dirs` (and `files`) without starting anything; for `cgwatch check`. */
export async function compilePolicies(
  dirs: readonly string[],
  opts: { files?: readonly string[]; params?: Readonly<Record<string, Readonly<Record<string, unknown>>>>; limits?: Partial<PolicyLimits> } = {},
): Promise<{ policies: CheckedPolicy[]; errors: PolicyCompileError[] }> {
  const limits: PolicyLimits = { ...DEFAULT_LIMITS, ...opts.limits };
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
      errors.push(compiled.error);
      continue;
    }
    compiled.sandbox.dispose();
    const { meta } = compiled;
    const other = names.get(meta.name);
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
  return { policies, errors };
}
