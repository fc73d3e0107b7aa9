/**
 * oom-protect-critical: steer the kernel's OOM killer by label.
 *
 * On `cgroup_added` and `sample`, sets `oom_score_adj` of every process in a
 * cgroup whose label `labelKey` (default `tier`) is
 *   - `critical`    -> `criticalScore`   (default -900: killed last)
 *   - `best-effort` -> `bestEffortScore` (default  900: killed first)
 * Other cgroups are left alone. Labels come from the config (`cgroup.labels`).
 * The cooldown re-applies the score at most once a minute per cgroup, so
 * processes that join a cgroup later get it too.
 *
 * Params: labelKey "tier", criticalScore -900, bestEffortScore 900.
 */

/** @type {import("./cgwatch-policy").PolicyMeta} */
export const meta = {
  name: "oom-protect-critical",
  description: "low oom_score_adj for cgroups labelled critical, high for best-effort",
  on: ["cgroup_added", "sample"],
  match: ["**"],
  // Only labelled cgroups can carry a tier: the host neither samples nor announces unlabelled ones to
  // this policy (at 10,000 cgroups their cgroup_added calls were most of the time to ready).
  sampleOnly: ["labelled"],
  addedOnly: ["labelled"],
  cooldown: "1m",
  params: { labelKey: "tier", criticalScore: -900, bestEffortScore: 900 },
};

/** @type {import("./cgwatch-policy").OnEvent} */
export function onEvent(event, cgroup, ctx) {
  const tier = cgroup.labels[ctx.params.labelKey];
  let value;
  if (tier === "critical") value = ctx.params.criticalScore;
  else if (tier === "best-effort") value = ctx.params.bestEffortScore;
  else return [];
  return [{ kind: "set_oom_score_adj", value: Math.max(-1000, Math.min(1000, Math.round(value))) }];
}
