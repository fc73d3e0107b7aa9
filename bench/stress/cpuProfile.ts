/**
 * What the stress tools share to read a V8 CPU profile (node:inspector's
 * Profiler.stop): a numeric `--name value` argument, and each function's
 * time from the profile's samples, self and inclusive, plus the time by
 * nearest cgwatch function (its own time and the node/library calls it makes).
 */

/** A numeric command-line option `--name value`, or its default. */
export const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};

export interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: number[];
}
export interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

/** µs per function name ("name file:line"). */
export interface ProfileTimes {
  readonly self: Map<string, number>;
  /** Every function on a sample's stack gets the sample's time once. */
  readonly inclusive: Map<string, number>;
  /** Each sample's time goes to the nearest cgwatch function on its stack. */
  readonly nearestOwn: Map<string, number>;
}

const frameName = (f: ProfileNode["callFrame"]): string =>
  `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/(dist|node_modules)\//, "$1/")}:${f.lineNumber + 1}`;

/** Whether a frame is cgwatch's own code (compiled src/). */
export const isOwnFrame = (name: string): boolean => name.includes("dist/src/");

export function profileTimes(profile: Profile): ProfileTimes {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const times: ProfileTimes = { self: new Map(), inclusive: new Map(), nearestOwn: new Map() };
  const add = (m: Map<string, number>, k: string, us: number): void => void m.set(k, (m.get(k) ?? 0) + us);
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const n = byId.get(id);
    if (n === undefined) return;
    const here = frameName(n.callFrame);
    add(times.self, here, us);
    const seen = new Set<string>();
    let firstOwn: string | null = null;
    for (let cur: ProfileNode | undefined = n; cur !== undefined;) {
      const k = frameName(cur.callFrame);
      if (!seen.has(k)) add(times.inclusive, k, us);
      seen.add(k);
      if (firstOwn === null && isOwnFrame(k)) firstOwn = k;
      const p = parent.get(cur.id);
      cur = p === undefined ? undefined : byId.get(p);
    }
    add(times.nearestOwn, firstOwn ?? `${here} (no cgwatch frame)`, us);
  });
  return times;
}

/** The `top` largest entries of `m` that pass `filter`, largest first. */
export function largest(
  m: Map<string, number>,
  top: number,
  filter: (k: string) => boolean = () => true,
): [string, number][] {
  return [...m]
    .filter(([k]) => filter(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top);
}
