/**
 * The one place a native notification fd becomes an Observable. Each
 * subscription opens its own fd(s) through the addon, watches them on
 * Node's loop, and closes them on unsubscribe, error or completion; no fd
 * outlives its subscriber. Failures (addon missing, registration refused,
 * poll error) arrive as a NativeSourceError on the error channel, never as a
 * synchronous throw out of subscribe(), so the daemon can catchError and
 * poll instead.
 */
import { Observable } from "rxjs";
import {
  loadNative,
  type CgwatchNative,
  type NativeError,
  type NativeLoad,
  type NativeWatchMode,
} from "../native/index.js";

export type NativeSourceErrorKind =
  /** The addon is not built/loadable or disabled: poll instead. */
  | "native_unavailable"
  /** The kernel refused the registration (cgroup gone: ENOENT; bad arguments: EINVAL). */
  | "open_failed"
  /** The arguments were rejected before any syscall. */
  | "invalid_argument"
  /** Polling the fd failed after it was set up. */
  | "watch_failed";

export class NativeSourceError extends Error {
  override readonly name = "NativeSourceError";
  constructor(
    readonly kind: NativeSourceErrorKind,
    message: string,
    /** errno name ("ENOENT", "EINVAL") when a syscall failed. */
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** One readiness notification: the drained eventfd counter (1 for POLLPRI) and when it was read. */
export interface FdTick {
  readonly count: number;
  /** performance.now() when the callback ran. */
  readonly at: number;
}

export interface FdSourceOptions {
  /** Keep the process alive while subscribed (default true); false unrefs the watcher. */
  readonly keepAlive?: boolean;
  /** Injected for tests; defaults to the process-wide addon. */
  readonly load?: NativeLoad;
}

/**
 * Ticks of a native fd. `open` creates and registers the fd (the addon
 * closes everything it opened if that fails); from then on this Observable
 * owns it. A poll error is delivered to `onPollError`, which may complete
 * (the source is gone) or error.
 */
export function nativeFdTicks(
  describe: string,
  mode: NativeWatchMode,
  open: (native: CgwatchNative) => number,
  options: FdSourceOptions = {},
  onPollError: (error: NativeError) => "complete" | "error" = () => "error",
): Observable<FdTick> {
  return new Observable<FdTick>((subscriber) => {
    const load = options.load ?? loadNative();
    if (load.kind === "unavailable") {
      subscriber.error(
        new NativeSourceError("native_unavailable", `${describe}: native notifications unavailable: ${load.reason}`),
      );
      return;
    }
    const native = load.native;
    let fd: number;
    try {
      fd = open(native);
    } catch (err) {
      const e = err as NativeError;
      subscriber.error(new NativeSourceError("open_failed", `${describe}: ${e.message}`, e.code ?? null));
      return;
    }
    let watcher;
    try {
      watcher = new native.Watcher(fd, mode, (error, value) => {
        if (error !== null) {
          if (onPollError(error) === "complete") subscriber.complete();
          else
            subscriber.error(
              new NativeSourceError("watch_failed", `${describe}: ${error.message}`, error.code ?? null),
            );
          return;
        }
        subscriber.next({ count: value ?? 1, at: performance.now() });
      });
    } catch (err) {
      // The Watcher did not take the fd: it is still ours to close.
      native.closeFd(fd);
      const e = err as NativeError;
      subscriber.error(new NativeSourceError("watch_failed", `${describe}: ${e.message}`, e.code ?? null));
      return;
    }
    if (options.keepAlive === false) watcher.unref();
    const w = watcher;
    return () => w.close();
  });
}
