/**
 * inotify watch of one control file, through Node's fs.watch (libuv keeps
 * one inotify fd per loop; the npm `inotify` package does not build on Node
 * 20). On cgroup v2, kernfs raises IN_MODIFY on memory.events, pids.events,
 * cgroup.events and friends when their counters change; on v1 files the
 * kernel never notifies (v1 needs eventfd). Each emission means only
 * "re-read the file": identical unread events are merged by the kernel.
 *
 * Notifications are only noted where libuv delivers them, and the wake is
 * emitted from a setImmediate: libuv reads the inotify fd in a loop until it
 * is empty, running every callback inside that loop, so a file that changes
 * faster than its wake is handled (memory.events of a cgroup throttled at
 * memory.high: up to every 10 ms, each wake a re-read, a policy call and a
 * log line) kept the whole event loop inside that read loop. Every other fd
 * waited: a PSI trigger's wake was handled ~300-600 ms late in the VM tier.
 * Now the read loop ends at once, and all the notifications noted before
 * the wake runs are covered by its one re-read.
 */
import fs from "node:fs";
import { Observable } from "rxjs";
import type { Wake } from "./types.js";

export interface FileWatchOptions {
  /** Keep the process alive while watching (true for the daemon, false in tests/tools). */
  readonly persistent?: boolean;
  readonly now?: () => number;
}

/** Where a file watch delivers its wakes; `onEnd` is told when the watch ends by itself (a watch error). */
export interface FileWakeSink {
  onWake(wake: Wake): void;
  onEnd?(): void;
}

/** A running watch of one file: `unsubscribe` ends it (shaped like an rxjs Subscription). */
export interface FileWatch {
  unsubscribe(): void;
}

const OWNER: unique symbol = Symbol("cgwatch.fileWatch");
type OwnedWatcher = fs.FSWatcher & { [OWNER]?: Watch | undefined };

/*
 * A class with listeners shared by every watch (they find their watch on the
 * FSWatcher): the daemon keeps one per watched file, ~3 per cgroup, and as an
 * rxjs Observable with its closures and subscribers each cost ~2 KB of heap.
 */
class Watch implements FileWatch {
  /** When the first notification not yet covered by a wake arrived (the wake's `at`). */
  private noted: number | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(
    private readonly cgroup: string,
    private readonly file: string,
    private readonly watcher: OwnedWatcher,
    private readonly now: () => number,
    private readonly sink: FileWakeSink,
  ) {
    watcher[OWNER] = this;
    watcher.on("change", onChange);
    watcher.on("error", onError);
  }

  changed(): void {
    if (this.noted !== null) return;
    this.noted = this.now();
    this.immediate = setImmediate(fire, this);
  }

  fire(): void {
    this.immediate = null;
    const at = this.noted;
    this.noted = null;
    // (A watch ended while its wake was pending delivers nothing.)
    if (at !== null && this.watcher[OWNER] === this)
      this.sink.onWake({ kind: "file_changed", cgroup: this.cgroup, file: this.file, source: "inotify", at });
  }

  /** A watch error (e.g. the inotify watch went away) ends this file's watch quietly; the safety-net sweep keeps re-reading the file. */
  failed(): void {
    this.unsubscribe();
    this.sink.onEnd?.();
  }

  unsubscribe(): void {
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    this.noted = null;
    this.watcher[OWNER] = undefined;
    this.watcher.close();
  }
}

function onChange(this: OwnedWatcher): void {
  this[OWNER]?.changed();
}

function onError(this: OwnedWatcher): void {
  this[OWNER]?.failed();
}

function fire(w: Watch): void {
  w.fire();
}

/**
 * Watches one file, delivering a `file_changed` wake per burst of inotify
 * notifications (see above), timed at the burst's first. Null when the
 * file does not exist (the cgroup is already gone): its removal is
 * discovery's business, not an error. Other errors of fs.watch are thrown.
 */
export function watchFile(
  cgroup: string,
  file: string,
  absPath: string,
  options: FileWatchOptions,
  sink: FileWakeSink,
): FileWatch | null {
  let watcher: fs.FSWatcher;
  try {
    watcher = fs.watch(absPath, { persistent: options.persistent ?? true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENODEV" || code === "ENOTDIR") return null;
    throw err;
  }
  return new Watch(cgroup, file, watcher, options.now ?? defaultNow, sink);
}

const defaultNow = (): number => performance.now();

/** `watchFile` as an Observable: it completes when the file is absent or the watch fails, and errors on other fs.watch errors. */
export function fileWakes(
  cgroup: string,
  file: string,
  absPath: string,
  options: FileWatchOptions = {},
): Observable<Wake> {
  return new Observable<Wake>((subscriber) => {
    let watch: FileWatch | null;
    try {
      watch = watchFile(cgroup, file, absPath, options, {
        onWake: (wake) => subscriber.next(wake),
        onEnd: () => subscriber.complete(),
      });
    } catch (err) {
      subscriber.error(err);
      return;
    }
    if (watch === null) {
      subscriber.complete();
      return;
    }
    return () => watch.unsubscribe();
  });
}
