/**
 * The watch rules as the daemon applies them: what discovery keeps (patterns,
 * excludes, cgwatch's own cgroups, container selectors), the labels of each
 * cgroup, and which cgroups may be acted on. A reload of `watch`/`exclude`
 * replaces all three, then re-filters discovery.
 */
import { Subject } from "rxjs";
import { compileCgroupGlob } from "../cgroup/glob.js";
import { actScope } from "../config/actScope.js";
import type { RuntimeConfig } from "../config/types.js";
import type { IdentityResolver } from "../identity/resolver.js";
import { compileWatchRules, type WatchRules } from "../identity/watchRules.js";
import type { WatchScope } from "../pipeline/types.js";
import type { DiscoveryFilter } from "../sources/discovery.js";

export function createWatchScope(
  config: RuntimeConfig,
  identities: Pick<IdentityResolver, "resolve">,
  ownCgroups: readonly string[],
): WatchScope {
  const own = new Set(ownCgroups);
  const identityOf = (cgroup: string): ReturnType<IdentityResolver["resolve"]> => identities.resolve(cgroup);
  // A rule's container selector counts too: a cgroup its path matches is watched only when its identity matches.
  const rulesOf = (c: RuntimeConfig): WatchRules => compileWatchRules(c.watch, identityOf);
  const filterOf = (c: RuntimeConfig, rules: WatchRules): DiscoveryFilter => {
    const excluded = c.exclude.map(compileCgroupGlob);
    return {
      patterns: c.watch.map((w) => w.pattern),
      exclude: (cg) => own.has(cg) || excluded.some((m) => m(cg)) || (rules.byContainer && !rules.matches(cg)),
    };
  };
  let rules = rulesOf(config);
  let actable = actScope(config.watch, identityOf);
  let adopting = false;
  const refilter = new Subject<DiscoveryFilter>();
  return {
    labelsOf: (cgroup) => rules.labelsOf(cgroup),
    mayAct: (cgroup) => actable(cgroup),
    forget: (cgroup) => rules.forget(cgroup),
    filter: filterOf(config, rules),
    refilter$: refilter,
    adopting: () => adopting,
    replace: (next) => {
      // Rules (labels, container selectors) and the act scope first, so a cgroup the rescan adds is labelled and judged by the new ones.
      rules = rulesOf(next);
      actable = actScope(next.watch, identityOf);
      adopting = true;
      try {
        refilter.next(filterOf(next, rules));
      } finally {
        adopting = false;
      }
    },
  };
}
