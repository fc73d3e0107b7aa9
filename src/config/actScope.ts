/**
 * Which watched cgroups cgwatch may act on. Acting is opt-in: a cgroup may
 * be changed only when at least one `watch` rule matching it has
 * `act: true` (a rule the operator wrote acts unless it says otherwise; the
 * built-in catch-all does not). The other watched cgroups are observed:
 * events, metrics, logs and "would have" decisions, never a write. "Any rule"
 * rather than "last rule wins" so that an observe-only catch-all never
 * vetoes a narrower opt-in, in whatever order the rules are listed; to keep a
 * subtree of an opted-in pattern untouched, use guardrails.protected.
 */
import { compileCgroupGlob } from "../cgroup/glob.js";
import { compileSelector, type ContainerView } from "../identity/selector.js";
import type { WatchRule } from "./types.js";

/** `identityOf` answers a rule's container selector (a rule with one acts only on the containers it names). */
export function actScope(
  rules: readonly WatchRule[],
  identityOf: (cgroup: string) => ContainerView | null = () => null,
): (cgroup: string) => boolean {
  const acting = rules
    .filter((r) => r.act)
    .map((r) => {
      const path = compileCgroupGlob(r.pattern);
      const container = r.container === undefined ? null : compileSelector(r.container);
      return (cgroup: string): boolean => path(cgroup) && (container === null || container(identityOf(cgroup)));
    });
  if (acting.length === 0) return () => false;
  const cache = new Map<string, boolean>();
  return (cgroup) => {
    let v = cache.get(cgroup);
    if (v === undefined) {
      v = acting.some((m) => m(cgroup));
      // Bounded: a long-lived host creates and removes cgroups forever.
      if (cache.size > 100_000) cache.clear();
      cache.set(cgroup, v);
    }
    return v;
  };
}
