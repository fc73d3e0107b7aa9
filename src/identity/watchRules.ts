/**
 * The config's watch rules with their container selectors: which cgroups are
 * watched, and the labels each gets. A rule matches when its path glob does
 * and, if it has one, its container selector matches the cgroup's identity.
 * Rules without selectors never ask for an identity, so the default config
 * (`**`) costs nothing here.
 *
 * Identity is looked up when discovery offers the cgroup: the engines write
 * their metadata before they create the cgroup (podman, Docker, containerd,
 * CRI-O all do), so a container selector sees it then.
 */
import { compileCgroupGlob } from "../cgroup/glob.js";
import type { WatchRule } from "../config/types.js";
import { compileSelector, type ContainerMatcher } from "./selector.js";
import type { ContainerIdentity } from "./types.js";

export interface WatchRules {
  /** Whether some rule selects by container (discovery must then ask for identities). */
  readonly byContainer: boolean;
  /** Whether a rule matches the cgroup (path and, where given, container). */
  matches(cgroup: string): boolean;
  /** Labels of every matching rule, later rules winning; cached per cgroup until forgotten. */
  labelsOf(cgroup: string): Readonly<Record<string, string>>;
  forget(cgroup: string): void;
}

export function compileWatchRules(
  rules: readonly WatchRule[],
  identityOf: (cgroup: string) => ContainerIdentity | null,
): WatchRules {
  const compiled = rules.map((r) => ({
    path: compileCgroupGlob(r.pattern),
    container: r.container === undefined ? null : compileSelector(r.container),
    labels: r.labels,
  }));
  const ruleMatches = (
    r: { path: (c: string) => boolean; container: ContainerMatcher | null },
    cgroup: string,
  ): boolean => r.path(cgroup) && (r.container === null || r.container(identityOf(cgroup)));
  const cache = new Map<string, Readonly<Record<string, string>>>();
  return {
    byContainer: compiled.some((r) => r.container !== null),
    matches: (cgroup) => compiled.some((r) => ruleMatches(r, cgroup)),
    labelsOf(cgroup) {
      let l = cache.get(cgroup);
      if (l === undefined) {
        const merged: Record<string, string> = {};
        for (const r of compiled) if (ruleMatches(r, cgroup)) Object.assign(merged, r.labels);
        l = Object.freeze(merged);
        cache.set(cgroup, l);
      }
      return l;
    },
    forget: (cgroup) => cache.delete(cgroup),
  };
}
