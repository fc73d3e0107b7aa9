/**
 * The watcher as the daemon configures it: discovery filtered by the watch
 * scope, notifiers (native when the addon loaded), PSI triggers and v1
 * pressure levels from the config, file problems into the problem log.
 */
import { compileCgroupGlob } from "../cgroup/glob.js";
import type { FileReader } from "../cgroup/read.js";
import type { RuntimeConfig } from "../config/types.js";
import type { V1PressureLevel } from "../events/types.js";
import { compileSelector } from "../identity/selector.js";
import type { ContainerIdentity } from "../identity/types.js";
import { started, type Started } from "../lifecycle/steps.js";
import type { WatchScope } from "../pipeline/types.js";
import { createNativeNotifiers } from "../watch/nativeNotifiers.js";
import { createWatcher, type Watcher } from "../watch/watcher.js";
import type { StartContext } from "./context.js";

/** A malformed file is a parse problem: only a read that parses clears it. */
export const isParseProblem = (reason: string): boolean => reason === "malformed";

/** `wantsSample`: whether a policy subscribes to periodic samples (none: no sample timer). */
export function startWatcher(
  c: StartContext,
  reader: FileReader,
  scope: WatchScope,
  wantsSample: boolean,
): Started<Watcher> {
  const { config, problems, persistent } = c;
  const { native } = c.options;
  const psiTriggers = Object.fromEntries(
    (["memory", "cpu", "io"] as const).flatMap((r) => {
      const t = config.psi[r];
      return t === null ? [] : [[r, t.kernel]];
    }),
  );
  const watcher = createWatcher({
    layout: c.layout,
    reader,
    patterns: scope.filter.patterns,
    ...(scope.filter.exclude === undefined ? {} : { exclude: scope.filter.exclude }),
    refilter$: scope.refilter$,
    pollIntervalMs: config.pollIntervalMs,
    safetyNetIntervalMs: config.safetyNetIntervalMs,
    sampleIntervalMs: wantsSample ? config.sampleIntervalMs : null,
    native:
      native.kind === "loaded"
        ? createNativeNotifiers({ keepAlive: persistent, softLimitRecheckMs: config.safetyNetIntervalMs })
        : null,
    psiTriggers,
    v1PressureLevels: pressureLevels(config, (cg) => c.identities.resolve(cg)),
    persistent,
    now: c.now,
    onProblem: (p) =>
      problems.report({
        op: "read",
        path: `${p.cgroup}/${p.file}`,
        cgroup: p.cgroup,
        reason: "malformed",
        message: `malformed control file ${p.file} of ${p.cgroup === "" ? "/" : p.cgroup}: ${p.reason}`,
      }),
    onProblemCleared: (p) => problems.clear("read", `${p.cgroup}/${p.file}`, isParseProblem),
    // The reason, not a stack: a source failing on one cgroup (it vanished, a file is missing) is an operating condition, not a bug.
    onSourceError: (cgroup, source, err) =>
      c.log.watch.warn(
        { cgroup, source, reason: err instanceof Error ? err.message : String(err) },
        "notification source failed; the safety net keeps re-reading",
      ),
  });
  // Nothing to stop here: unsubscribing from events$ (the watch loop's stop) stops discovery and every source.
  return started(watcher);
}

/** v1 pressure levels for a cgroup: the last matching watch rule that sets them, else the global list. */
function pressureLevels(
  config: RuntimeConfig,
  identityOf: (cgroup: string) => ContainerIdentity | null,
): (cgroup: string) => readonly V1PressureLevel[] {
  const rules = config.watch.flatMap((r) => {
    if (r.v1PressureLevels === null) return [];
    const path = compileCgroupGlob(r.pattern);
    const container = r.container === undefined ? null : compileSelector(r.container);
    return [
      { match: (c: string) => path(c) && (container === null || container(identityOf(c))), levels: r.v1PressureLevels },
    ];
  });
  return (cgroup) => {
    let levels = config.v1PressureLevels;
    for (const r of rules) if (r.match(cgroup)) levels = r.levels;
    return levels;
  };
}
