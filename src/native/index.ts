/**
 * Loads cgwatch's N-API addon: build/Release/cgwatch_native.node when it was
 * compiled here (a clone, or an install where no prebuild fits), else the
 * prebuilt prebuilds/<platform>-<arch>/ that the npm package ships
 * (prebuildify at `npm pack`, found by node-gyp-build's own resolver, the
 * same one the install script uses to decide whether to compile). The addon
 * is optional: without a compiler or a prebuild the install still succeeds
 * (scripts/native-build-failed.mjs), and cgwatch
 * polls instead of receiving eventfd/PSI notifications. So loading never
 * throws; it returns a `kind`-tagged result the daemon logs once and exports
 * as cgwatch_notifier_fallback. CGWATCH_DISABLE_NATIVE=1 forces the fallback
 * (users with a broken addon, and the fallback tests).
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Watches one fd on Node's libuv loop (uv_poll_t). Owns the fd once constructed. */
export interface NativeWatcher {
  /** Stops polling and closes the fd, exactly once; later calls do nothing. */
  close(): void;
  /** The watcher keeps the event loop alive (the default). */
  ref(): NativeWatcher;
  /** An idle watcher no longer keeps the process from exiting. */
  unref(): NativeWatcher;
  readonly closed: boolean;
}

/** 0: eventfd (UV_READABLE, the counter is drained); 1: POLLPRI (UV_PRIORITIZED, PSI triggers). */
export type NativeWatchMode = 0 | 1;

/**
 * The callback gets the drained eventfd counter (several kernel signals
 * between two reads add up), or 1 for a POLLPRI wake, or an error once when
 * polling failed (POLLERR: the PSI trigger's cgroup is gone); polling has
 * stopped then, and the owner still calls close().
 */
export type NativeWatchCallback = (error: NativeError | null, value?: number) => void;

/** Errors thrown by the addon carry the errno name, like Node's fs errors. */
export interface NativeError extends Error {
  readonly code?: string;
  readonly errno?: number;
  readonly syscall?: string;
}

export interface CgwatchNative {
  /** eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). */
  eventfd(): number;
  /** Adds n to an eventfd's counter (tests, benchmark). */
  eventfdWrite(fd: number, n: number): void;
  /** close(2) for an fd no Watcher owns; throws on EBADF (a double close is a bug). */
  closeFd(this: void, fd: number): void;
  /** New eventfd registered as "<efd> <fd of dir/file> args" in dir/cgroup.event_control; all fds closed on failure. */
  openV1Notification(dir: string, file: string, args: string): number;
  /** Opens `path` O_RDWR|O_NONBLOCK and writes the PSI trigger; the fd holds the trigger. */
  openPsiTrigger(path: string, trigger: string): number;
  /** One datagram to the unix socket `socketPath` ('@' = abstract namespace). True when sent; throws on error. */
  sdNotify(socketPath: string, message: string): boolean;
  /**
   * A directory fd (O_PATH) to read files relative to, or -errno; close it with closeFd. Absent from
   * builds older than the one-shot reader (callers fall back to Node's fs).
   */
  openDir?(this: void, path: string): number;
  /**
   * One-shot read of `name` relative to `dirfd` (-100: an absolute path) into `buffer`, the way
   * src/cgroup/safeOpen.ts opens: bytes read, -errno, or -(4096 + S_IFMT >> 12) for anything
   * but a regular file (not read). Absent from older builds.
   */
  readAt?(this: void, dirfd: number, name: string, buffer: Buffer): number;
  Watcher: new (fd: number, mode: NativeWatchMode, callback: NativeWatchCallback) => NativeWatcher;
  /** Bumped when this interface changes, so a stale build is reported instead of misused. */
  readonly abiVersion: number;
}

export const ADDON_NAME = "cgwatch_native";
const ABI_VERSION = 1;

export type NativeLoad =
  | { readonly kind: "loaded"; readonly native: CgwatchNative; readonly path: string }
  | { readonly kind: "unavailable"; readonly reason: string };

/**
 * Candidate addon paths: this file is src/native/index.ts under vitest and
 * dist/src/native/index.js once built, so the package root is two or three
 * levels up. A local build comes first (it was compiled for this very node),
 * then the prebuild that fits this platform, architecture and libc.
 */
export function addonCandidates(fromUrl: string = import.meta.url): string[] {
  const here = path.dirname(fileURLToPath(fromUrl));
  const roots = [path.resolve(here, "..", ".."), path.resolve(here, "..", "..", "..")];
  const built = roots.flatMap((root) =>
    ["Release", "Debug"].map((flavour) => path.join(root, "build", flavour, `${ADDON_NAME}.node`)),
  );
  const prebuilt = roots.flatMap((root) => prebuiltFor(root));
  return [...built, ...prebuilt];
}

/** node-gyp-build's choice among `root`/prebuilds/ (it also checks build/, which must not count twice). */
function prebuiltFor(root: string): string[] {
  if (!fs.existsSync(path.join(root, "prebuilds"))) return [];
  try {
    const resolve = createRequire(import.meta.url)("node-gyp-build") as { path(dir: string): string };
    const found = resolve.path(root);
    return found.includes(`${path.sep}prebuilds${path.sep}`) ? [found] : [];
  } catch {
    return []; // no prebuild for this platform/arch/libc
  }
}

/** Loads the addon without caching (tests); `loadNative()` is the cached entry point. */
export function loadNativeUncached(
  env: NodeJS.ProcessEnv = process.env,
  candidates: readonly string[] = addonCandidates(),
): NativeLoad {
  if (env["CGWATCH_DISABLE_NATIVE"] === "1") {
    return { kind: "unavailable", reason: "disabled by CGWATCH_DISABLE_NATIVE=1" };
  }
  if (process.platform !== "linux")
    return { kind: "unavailable", reason: `eventfd and PSI need Linux, not ${process.platform}` };
  const found = candidates.find((p) => fs.existsSync(p));
  if (found === undefined) {
    return {
      kind: "unavailable",
      reason: `addon not built (looked for ${candidates.join(", ")}); run \`npm run build:native\``,
    };
  }
  try {
    const require = createRequire(import.meta.url);
    const native = require(found) as CgwatchNative;
    if (native.abiVersion !== ABI_VERSION) {
      return {
        kind: "unavailable",
        reason: `${found} is a stale build (abi ${String(native.abiVersion)}, want ${ABI_VERSION}); run \`npm run build:native\``,
      };
    }
    return { kind: "loaded", native, path: found };
  } catch (err) {
    return {
      kind: "unavailable",
      reason: `could not load ${found}: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

let cached: NativeLoad | undefined;

/** The addon, loaded once per process. Never throws. */
export function loadNative(): NativeLoad {
  cached ??= loadNativeUncached();
  return cached;
}

/**
 * What the daemon logs once at startup and exports as
 * cgwatch_notifier_fallback (1 = polling instead of eventfd/PSI).
 */
export function nativeAvailability(): {
  readonly available: boolean;
  readonly reason: string | null;
  readonly fallbackMetric: 0 | 1;
} {
  const load = loadNative();
  switch (load.kind) {
    case "loaded":
      return { available: true, reason: null, fallbackMetric: 0 };
    case "unavailable":
      return { available: false, reason: load.reason, fallbackMetric: 1 };
  }
}
