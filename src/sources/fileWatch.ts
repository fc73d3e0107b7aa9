/**
 * inotify watch of one control file, through Node's fs.watch (libuv keeps
 * one inotify fd per loop; the npm `inotify` package does not build on Node
 * 20). On cgroup v2, kernfs raises IN_MODIFY on memory.events, pids.events,
 * cgroup.events and friends when their counters change; on v1 files the
 * kernel never notifies (v1 needs eventfd). Each emission means only
 * "re-read the file": identical unread events are merged by the kernel.
 */
import fs from "node:fs";
import { Observable } from "rxjs";
import type { Wake } from "./types.js";

export interface FileWatchOptions {
  /** Keep the process alive while watching (true for the daemon, false in tests/tools). */
  readonly persistent?: boolean;
  readonly now?: () => number;
}

/**
 * Emits a `file_changed` wake per inotify notification. If the file does not
 * exist (the cgroup is already gone) the Observable completes at once: the
 * cgroup's removal is discovery's business, not an error.
 */
export function fileWakes(cgroup: string, file: string, absPath: string, options: FileWatchOptions = {}): Observable<Wake> {
  const now = options.now ?? (() => performance.now());
  return new Observable<Wake>((subscriber) => {
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(absPath, { persistent: options.persistent ?? true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENODEV" || code === "ENOTDIR") subscriber.complete();
      else subscriber.error(err);
      return;
    }
    watcher.on("change", () => subscriber.next({ kind: "file_changed", cgroup, file, source: "inotify", at: now() }));
    // A watch error (e.g. the inotify watch went away) ends this file's
    // stream quietly; the safety-net sweep keeps re-reading the file.
    watcher.on("error", () => subscriber.complete());
    return () => watcher.close();
  });
}
