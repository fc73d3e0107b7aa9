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
  const problems = [...compiled.errors.map((e) => e.text), ...configProblems(loaded, compiled.policies)];
  if (problems.length > 0) {
    compiled.precompiled?.release();
    return { kind: "errors", problems };
  }
  return { kind: "ok", policies: compiled.policies, precompiled: compiled.precompiled };
}

/** Config keys that name a policy no directory holds, or a param its policy does not declare. */
function configProblems(loaded: Extract<LoadResult, { kind: "ok" }>, policies: readonly CheckedPolicy[]): string[] {
  const { config } = loaded;
  const names = new Set(policies.map((p) => p.meta.name));
  const at = (where: readonly (string | number)[], message: string): string =>
    formatConfigError(loaded.errorAt(where, message));
  const unknown = (section: "params" | "cooldowns", keys: readonly string[]): string[] =>
    keys
      .filter((name) => !names.has(name))
      .map((name) =>
        at(["policies", section, name], `no policy named "${name}" in ${config.policies.dirs.join(", ")}`),
      );
  return [
    ...unknown("params", Object.keys(config.policies.params)),
    ...policies.flatMap((p) =>
      p.unknownParams.map((k) =>
        at(["policies", "params", p.meta.name, k], `policy ${p.meta.name} declares no param "${k}"`),
      ),
    ),
    ...unknown("cooldowns", Object.keys(config.policies.cooldownsMs)),
    ...config.policies.disabled
      .filter((name) => !names.has(name))
      .map((name) => at(["policies", "disabled"], `no policy named "${name}" to disable`)),
  ];
}
