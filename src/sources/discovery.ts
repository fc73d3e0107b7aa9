/**
 * Discovery: the set of watched cgroups, from glob patterns relative to each
 * hierarchy root, kept current by watching parent directories (mkdir/rmdir
 * of a cgroup raise IN_CREATE/IN_DELETE on its parent; a removed cgroup's own
 * files get no event at all, measured). A cgroup exists while its directory
 * exists in at least one of the roots (on v1 the same path lives in every
 * controller's hierarchy). A periodic rescan catches what inotify raced past.
 */
import fs from "node:fs";
import path from "node:path";
import { Observable } from "rxjs";
import { compileCgroupGlob, literalPrefix, maxDepthBelowPrefix } from "../cgroup/glob.js";

export type DiscoveryChange =
  /** `existed`: found by a re-filter (a reload's new watch rules), so it was there before, not created now. */
  | { readonly kind: "added"; readonly cgroup: string; readonly at: number; readonly existed: boolean }
  | { readonly kind: "removed"; readonly cgroup: string; readonly at: number }
  /** The initial scan is complete: every cgroup present at start has been emitted. */
  | { readonly kind: "scanned"; readonly count: number; readonly at: number };

export interface DiscoveryOptions {
  /** Absolute hierarchy roots to scan (e.g. the memory, cpu and pids mounts on v1; the cgroup2 mount on v2). */
  readonly roots: readonly string[];
  readonly patterns: readonly string[];
  /** Cgroups never to report (e.g. cgwatch's own). */
  readonly exclude?: (cgroup: string) => boolean;
  readonly rescanIntervalMs?: number;
  readonly persistent?: boolean;
  readonly now?: () => number;
  /** New patterns and exclusions (a config reload): a rescan then adds what now matches and removes what no longer does. */
  readonly refilter$?: Observable<DiscoveryFilter>;
}

export interface DiscoveryFilter {
  readonly patterns: readonly string[];
  readonly exclude?: (cgroup: string) => boolean;
}

/** A filter compiled for the walk: which cgroups match, and how deep below a directory a match may still lie. */
interface CompiledFilter {
  matches(cgroup: string): boolean;
  /** How deep below the root a directory may still hold (or lead to) a match; -1: nothing there. */
  maxDepthOf(rel: string): number;
}

function compileFilter(f: DiscoveryFilter): CompiledFilter {
  const matchers = f.patterns.map(compileCgroupGlob);
  const exclude = f.exclude;
  const starts = f.patterns.map((p) => ({ prefix: literalPrefix(p), depth: maxDepthBelowPrefix(p) }));
  return {
    matches: (cgroup) => matchers.some((m) => m(cgroup)) && !(exclude?.(cgroup) ?? false),
    maxDepthOf: (rel) => {
      const relDepth = rel === "" ? 0 : rel.split("/").length;
      let best = -1;
      for (const s of starts) {
        const pDepth = s.prefix === "" ? 0 : s.prefix.split("/").length;
        const under = s.prefix === "" || rel === s.prefix || rel.startsWith(`${s.prefix}/`);
        const above = s.prefix === "" || s.prefix === rel || s.prefix.startsWith(rel === "" ? "" : `${rel}/`);
        if (under) best = Math.max(best, pDepth + s.depth);
        else if (above && relDepth < pDepth) best = Math.max(best, pDepth + s.depth);
      }
      return best;
    },
  };
}

/** Which cgroups exist in which roots; a cgroup is added with its first root and removed with its last. */
interface Presence {
  add(cgroup: string, root: string): void;
  remove(cgroup: string, root: string): void;
  /** Removes, in `root`, a removed directory's cgroup and every cgroup below it. */
  removeUnder(rel: string, root: string): void;
  /** Removes every (cgroup, root) a full rescan did not see. */
  reconcile(seenPerRoot: ReadonlyMap<string, ReadonlySet<string>>): void;
  readonly cgroups: () => IterableIterator<string>;
  readonly size: () => number;
}

function createPresence(onAdded: (cgroup: string) => void, onRemoved: (cgroup: string) => void): Presence {
  /** cgroup → set of roots it exists in. */
  const present = new Map<string, Set<string>>();
  const remove = (cgroup: string, root: string): void => {
    const roots = present.get(cgroup);
    if (roots === undefined) return;
    roots.delete(root);
    if (roots.size === 0) {
      present.delete(cgroup);
      onRemoved(cgroup);
    }
  };
  return {
    add(cgroup, root) {
      let roots = present.get(cgroup);
      if (roots === undefined) {
        roots = new Set();
        present.set(cgroup, roots);
        onAdded(cgroup);
      }
      roots.add(root);
    },
    remove,
    removeUnder(rel, root) {
      for (const c of [...present.keys()]) if (c === rel || c.startsWith(`${rel}/`)) remove(c, root);
    },
    reconcile(seenPerRoot) {
      for (const [cgroup, roots] of [...present]) {
        for (const root of [...roots]) if (!(seenPerRoot.get(root)?.has(cgroup) ?? false)) remove(cgroup, root);
      }
    },
    cgroups: () => present.keys(),
    size: () => present.size,
  };
}

/** inotify on directories (absolute path → watcher); a watch whose directory failed closes itself. */
function createDirWatches(persistent: boolean): {
  watch(abs: string, onChange: (filename: string | null) => void): void;
  unwatchUnder(abs: string): void;
  close(): void;
} {
  const watched = new Map<string, fs.FSWatcher>();
  return {
    watch(abs, onChange) {
      if (watched.has(abs)) return;
      let watcher: fs.FSWatcher;
      try {
        watcher = fs.watch(abs, { persistent });
      } catch {
        return; // vanished between readdir and watch: the parent's event will tell
      }
      watcher.on("change", (_type, filename) =>
        onChange(typeof filename === "string" && filename !== "" ? filename : null),
      );
      watcher.on("error", () => {
        watcher.close();
        watched.delete(abs);
      });
      watched.set(abs, watcher);
    },
    unwatchUnder(abs) {
      for (const [d, w] of watched) {
        if (d === abs || d.startsWith(`${abs}/`)) {
          w.close();
          watched.delete(d);
        }
      }
    },
    close() {
      for (const w of watched.values()) w.close();
      watched.clear();
    },
  };
}

/** A directory entry that appeared or went: a directory (lstat, so never a symlink) is walked, anything else removed. */
function isDirectory(abs: string): boolean {
  try {
    // lstat: a symlink to a directory is not a cgroup (kernfs has none; on
    // another tree it could lead the watch, and actions, out of the root).
    return fs.lstatSync(abs).isDirectory();
  } catch {
    return false;
  }
}

export function discoverCgroups(options: DiscoveryOptions): Observable<DiscoveryChange> {
  const now = options.now ?? (() => performance.now());
  let filter = compileFilter(options);

  return new Observable<DiscoveryChange>((subscriber) => {
    let closed = false;
    let scanned = false;
    /** True while a re-filter rescans: what it adds existed before the new rules. */
    let refiltering = false;
    const presence = createPresence(
      (cgroup) => {
        if (scanned) subscriber.next({ kind: "added", cgroup, at: now(), existed: refiltering });
      },
      (cgroup) => subscriber.next({ kind: "removed", cgroup, at: now() }),
    );
    const dirs = createDirWatches(options.persistent ?? true);

    /** Walks a directory: reports matching cgroups, watches directories that can lead to matches. */
    const walk = (root: string, rel: string, seen: Set<string> | null): void => {
      const limit = filter.maxDepthOf(rel);
      const depth = rel === "" ? 0 : rel.split("/").length;
      if (limit < depth) return;
      if (rel !== "" && filter.matches(rel)) {
        presence.add(rel, root);
        seen?.add(rel);
      }
      if (depth >= limit) return;
      const abs = rel === "" ? root : path.join(root, rel);
      if (!closed) dirs.watch(abs, (name) => (name === null ? rescan() : onEntry(root, rel, name)));
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(abs, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory()) walk(root, rel === "" ? e.name : `${rel}/${e.name}`, seen);
    };

    const onEntry = (root: string, parentRel: string, name: string): void => {
      if (closed) return;
      const rel = parentRel === "" ? name : `${parentRel}/${name}`;
      if (isDirectory(path.join(root, rel))) walk(root, rel, null);
      else {
        dirs.unwatchUnder(path.join(root, rel));
        presence.removeUnder(rel, root);
      }
    };

    /** Full rescan: reconcile what is present with what is on disk. */
    const rescan = (): void => {
      if (closed) return;
      const seenPerRoot = new Map<string, Set<string>>();
      for (const root of options.roots) {
        const seen = new Set<string>();
        seenPerRoot.set(root, seen);
        walk(root, "", seen);
      }
      presence.reconcile(seenPerRoot);
    };

    for (const root of options.roots) walk(root, "", null);
    for (const cgroup of presence.cgroups()) subscriber.next({ kind: "added", cgroup, at: now(), existed: true });
    scanned = true;
    subscriber.next({ kind: "scanned", count: presence.size(), at: now() });

    const timer =
      options.rescanIntervalMs !== undefined && options.rescanIntervalMs > 0
        ? setInterval(rescan, options.rescanIntervalMs)
        : null;
    if (timer !== null && options.persistent === false) timer.unref();
    const refilter = options.refilter$?.subscribe((f) => {
      filter = compileFilter(f);
      refiltering = true;
      try {
        rescan();
      } finally {
        refiltering = false;
      }
    });
    return () => {
      closed = true;
      refilter?.unsubscribe();
      if (timer !== null) clearInterval(timer);
      dirs.close();
    };
  });
}
