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

interface WatchedDir {
  readonly watcher: fs.FSWatcher;
}

export function discoverCgroups(options: DiscoveryOptions): Observable<DiscoveryChange> {
  const now = options.now ?? (() => performance.now());
  let matchers = options.patterns.map(compileCgroupGlob);
  let exclude = options.exclude;
  const matches = (cgroup: string): boolean => matchers.some((m) => m(cgroup)) && !(exclude?.(cgroup) ?? false);
  let starts = options.patterns.map((p) => ({ prefix: literalPrefix(p), depth: maxDepthBelowPrefix(p) }));
  /** How deep below the root a directory may still hold (or lead to) a match. */
  const maxDepthOf = (rel: string): number => {
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
  };

  return new Observable<DiscoveryChange>((subscriber) => {
    /** cgroup → set of roots it exists in. */
    const present = new Map<string, Set<string>>();
    const watched = new Map<string, WatchedDir>(); // absolute dir → watcher
    let closed = false;
    /** True while a re-filter rescans: what it adds existed before the new rules. */
    let refiltering = false;

    const add = (cgroup: string, root: string): void => {
      let roots = present.get(cgroup);
      if (roots === undefined) {
        roots = new Set();
        present.set(cgroup, roots);
        if (scanned) subscriber.next({ kind: "added", cgroup, at: now(), existed: refiltering });
      }
      roots.add(root);
    };
    const remove = (cgroup: string, root: string): void => {
      const roots = present.get(cgroup);
      if (roots === undefined) return;
      roots.delete(root);
      if (roots.size === 0) {
        present.delete(cgroup);
        subscriber.next({ kind: "removed", cgroup, at: now() });
      }
    };
    const unwatch = (absDir: string): void => {
      for (const [d, w] of watched) {
        if (d === absDir || d.startsWith(`${absDir}/`)) {
          w.watcher.close();
          watched.delete(d);
        }
      }
    };

    const watchDir = (root: string, rel: string): void => {
      const abs = rel === "" ? root : path.join(root, rel);
      if (watched.has(abs) || closed) return;
      let watcher: fs.FSWatcher;
      try {
        watcher = fs.watch(abs, { persistent: options.persistent ?? true });
      } catch {
        return; // vanished between readdir and watch: the parent's event will tell
      }
      watcher.on("change", (_type, filename) => {
        if (typeof filename !== "string" || filename === "") {
          rescan();
          return;
        }
        onEntry(root, rel, filename);
      });
      watcher.on("error", () => {
        watcher.close();
        watched.delete(abs);
      });
      watched.set(abs, { watcher });
    };

    /** Walks a directory: reports matching cgroups, watches directories that can lead to matches. */
    const walk = (root: string, rel: string, seen: Set<string> | null): void => {
      const limit = maxDepthOf(rel);
      const depth = rel === "" ? 0 : rel.split("/").length;
      if (limit < depth) return;
      if (rel !== "" && matches(rel)) {
        add(rel, root);
        seen?.add(rel);
      }
      if (depth >= limit) return;
      watchDir(root, rel);
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(rel === "" ? root : path.join(root, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory()) walk(root, rel === "" ? e.name : `${rel}/${e.name}`, seen);
    };

    const onEntry = (root: string, parentRel: string, name: string): void => {
      if (closed) return;
      const rel = parentRel === "" ? name : `${parentRel}/${name}`;
      let isDir = false;
      try {
        // lstat: a symlink to a directory is not a cgroup (kernfs has none; on
        // another tree it could lead the watch, and actions, out of the root).
        isDir = fs.lstatSync(path.join(root, rel)).isDirectory();
      } catch {
        isDir = false;
      }
      if (isDir) {
        walk(root, rel, null);
      } else {
        unwatch(path.join(root, rel));
        for (const c of [...present.keys()]) if (c === rel || c.startsWith(`${rel}/`)) remove(c, root);
      }
    };

    /** Full rescan: reconcile `present` with what is on disk. */
    const rescan = (): void => {
      if (closed) return;
      const seenPerRoot = new Map<string, Set<string>>();
      for (const root of options.roots) {
        const seen = new Set<string>();
        seenPerRoot.set(root, seen);
        walk(root, "", seen);
      }
      for (const [cgroup, roots] of [...present]) {
        for (const root of [...roots]) if (!(seenPerRoot.get(root)?.has(cgroup) ?? false)) remove(cgroup, root);
      }
    };

    let scanned = false;
    for (const root of options.roots) walk(root, "", null);
    for (const cgroup of present.keys()) subscriber.next({ kind: "added", cgroup, at: now(), existed: true });
    scanned = true;
    subscriber.next({ kind: "scanned", count: present.size, at: now() });

    const timer = options.rescanIntervalMs !== undefined && options.rescanIntervalMs > 0 ? setInterval(rescan, options.rescanIntervalMs) : null;
    if (timer !== null && options.persistent === false) timer.unref();
    const refilter = options.refilter$?.subscribe((f) => {
      matchers = f.patterns.map(compileCgroupGlob);
      starts = f.patterns.map((p) => ({ prefix: literalPrefix(p), depth: maxDepthBelowPrefix(p) }));
      exclude = f.exclude;
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
      for (const w of watched.values()) w.watcher.close();
      watched.clear();
    };
  });
}
