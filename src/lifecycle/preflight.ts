/**
 * What `cgwatch check` verifies and `cgwatch run` refuses to start without:
 * the config loaded, every configured policy compiled in a throwaway sandbox
 * (syntax, top-level code, meta), params, cooldowns and disabled names matching real
 * policies. One function for both, so `run` starts exactly when `check`
 * says ok (a daemon that started with a broken policy silently lacked it).
 * `check` disposes the sandboxes; `run` keeps them (`keepSandboxes`) and
 * hands them to the engine, so that a start compiles each policy once.
 */
import { formatConfigError } from "../config/format.js";
import type { LoadResult } from "../config/types.js";
import { policyLimits } from "../config/policyLimits.js";
import { compilePolicies, type CheckedPolicy } from "../policy/compile.js";
import type { PrecompiledPolicies } from "../policy/precompiled.js";

export type Preflight =
  /** `precompiled`: the kept sandboxes (with `keepSandboxes`), the caller's to hand to the engine or release; null otherwise. */
  | {
      readonly kind: "ok";
      readonly policies: readonly CheckedPolicy[];
      readonly precompiled: PrecompiledPolicies | null;
    }
  /** Every problem, one human line each (file:line:col: message). */
  | { readonly kind: "errors"; readonly problems: readonly string[] };

export async function preflight(
  loaded: LoadResult,
  opts: { readonly keepSandboxes?: boolean } = {},
): Promise<Preflight> {
  if (loaded.kind === "error") return { kind: "errors", problems: loaded.errors.map(formatConfigError) };
  const { config } = loaded;
  const compiled = await compilePolicies(config.policies.dirs, {
    params: config.policies.params,
    limits: policyLimits(config),
    keep: opts.keepSandboxes === true,
  });
  const problems: string[] = compiled.errors.map((e) => e.text);
  const names = new Set(compiled.policies.map((p) => p.meta.name));
  for (const name of Object.keys(config.policies.params)) {
    if (!names.has(name))
      problems.push(
        formatConfigError(
          loaded.errorAt(
            ["policies", "params", name],
            `no policy named "${name}" in ${config.policies.dirs.join(", ")}`,
          ),
        ),
      );
  }
  for (const p of compiled.policies) {
    for (const k of p.unknownParams)
      problems.push(
        formatConfigError(
          loaded.errorAt(["policies", "params", p.meta.name, k], `policy ${p.meta.name} declares no param "${k}"`),
        ),
      );
  }
  for (const name of Object.keys(config.policies.cooldownsMs)) {
    if (!names.has(name))
      problems.push(
        formatConfigError(
          loaded.errorAt(
            ["policies", "cooldowns", name],
            `no policy named "${name}" in ${config.policies.dirs.join(", ")}`,
          ),
        ),
      );
  }
  for (const name of config.policies.disabled) {
    if (!names.has(name))
      problems.push(
        formatConfigError(loaded.errorAt(["policies", "disabled"], `no policy named "${name}" to disable`)),
      );
  }
  if (problems.length > 0) {
    compiled.precompiled?.release();
    return { kind: "errors", problems };
  }
  return { kind: "ok", policies: compiled.policies, precompiled: compiled.precompiled };
}
