/**
 * Identity per watched cgroup, cached: resolved once when the cgroup is
 * added (the path, then the engine's metadata), re-tried a few times on a
 * short backoff when the metadata is not there yet (an engine may write it
 * after the cgroup exists), then left path-only. An unreadable file is said
 * once and never re-tried: no error loop, whatever the disk holds.
 */
import { lookupMetadata, type LookupResult } from "./lookup.js";
import { identityFromPath } from "./path.js";
import type { ContainerIdentity, IdentityRoots, PathIdentity } from "./types.js";

export interface IdentityResolverOptions {
  readonly roots: IdentityRoots;
  /** Delays of the re-tries after a lookup found no metadata (default 100 ms, 400 ms, 1.5 s, 5 s). */
  readonly retryDelaysMs?: readonly number[];
  /** A re-try found the metadata: the identity improved after `resolve` returned. */
  readonly onResolved?: (cgroup: string, identity: ContainerIdentity) => void;
  /** Metadata exists but cannot be read or parsed (said once per cgroup). */
  readonly onUnreadable?: (cgroup: string, file: string, reason: string) => void;
  /** Keep the process alive on retry timers (false in tests). */
  readonly persistent?: boolean;
  readonly lookup?: (p: PathIdentity, roots: IdentityRoots) => LookupResult;
}

export interface IdentityResolver {
  /** Resolves (or returns the cached) identity; null when the path names no engine. */
  resolve(cgroup: string): ContainerIdentity | null;
  /** The cached identity only. */
  get(cgroup: string): ContainerIdentity | null;
  forget(cgroup: string): void;
  close(): void;
}

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [100, 400, 1500, 5000];

export function combine(p: PathIdentity, r: LookupResult): ContainerIdentity {
  const base = {
    engine: p.engine,
    id: p.id,
    name: null,
    image: null,
    pod: null,
    namespace: null,
    podUid: p.podUid,
    labels: {},
    resolved: false,
  };
  if (r.kind !== "found") return base;
  const m = r.meta;
  return {
    ...base,
    engine: r.engine,
    name: m.name,
    image: m.image,
    pod: m.pod,
    namespace: m.namespace,
    podUid: m.podUid ?? p.podUid,
    labels: m.labels,
    resolved: true,
  };
}

export function createIdentityResolver(options: IdentityResolverOptions): IdentityResolver {
  const lookup = options.lookup ?? lookupMetadata;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const cache = new Map<string, ContainerIdentity | null>();
  const timers = new Map<string, NodeJS.Timeout>();

  const attempt = (cgroup: string, p: PathIdentity): LookupResult => {
    const r = lookup(p, options.roots);
    if (r.kind === "unreadable") options.onUnreadable?.(cgroup, r.file, r.reason);
    return r;
  };

  const retry = (cgroup: string, p: PathIdentity, n: number): void => {
    const delay = delays[n];
    if (delay === undefined) return;
    const t = setTimeout(() => {
      timers.delete(cgroup);
      if (!cache.has(cgroup)) return;
      const r = attempt(cgroup, p);
      if (r.kind === "found") {
        const id = combine(p, r);
        cache.set(cgroup, id);
        options.onResolved?.(cgroup, id);
      } else if (r.kind === "absent") retry(cgroup, p, n + 1);
    }, delay);
    if (!(options.persistent ?? true)) t.unref();
    timers.set(cgroup, t);
  };

  const forget = (cgroup: string): void => {
    cache.delete(cgroup);
    const t = timers.get(cgroup);
    if (t !== undefined) clearTimeout(t);
    timers.delete(cgroup);
  };

  return {
    resolve(cgroup) {
      if (cache.has(cgroup)) return cache.get(cgroup) ?? null;
      const p = identityFromPath(cgroup);
      if (p === null) {
        cache.set(cgroup, null);
        return null;
      }
      const r = attempt(cgroup, p);
      const id = combine(p, r);
      cache.set(cgroup, id);
      if (r.kind === "absent") retry(cgroup, p, 0);
      return id;
    },
    get: (cgroup) => cache.get(cgroup) ?? null,
    forget,
    close() {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      cache.clear();
    },
  };
}
