/**
 * The fallback: with the addon disabled by CGWATCH_DISABLE_NATIVE=1 (set
 * before any module is loaded), the watch loop is wired the way the daemon
 * wires it (no native notifiers when the load is unavailable) and the same
 * real OOM is still detected, by polling memory.oom_control.
 */
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import type * as NativeModule from "../../src/native/index.js";
import type * as NotifiersModule from "../../src/watch/nativeNotifiers.js";
import type * as WatcherModule from "../../src/watch/watcher.js";
import type * as ReadModule from "../../src/cgroup/read.js";
import { collect } from "../helpers/collect.js";
import { createScratchCgroup, describeRealV1, hogArgs, waitExit } from "../helpers/realCgroup.js";

let nativeMod: typeof NativeModule;
let notifiers: typeof NotifiersModule;
let watcherMod: typeof WatcherModule;
let readMod: typeof ReadModule;

beforeAll(async () => {
  vi.stubEnv("CGWATCH_DISABLE_NATIVE", "1");
  vi.resetModules();
  nativeMod = await import("../../src/native/index.js");
  notifiers = await import("../../src/watch/nativeNotifiers.js");
  watcherMod = await import("../../src/watch/watcher.js");
  readMod = await import("../../src/cgroup/read.js");
});
afterAll(() => {
  vi.unstubAllEnvs();
});

describeRealV1("fallback without the addon (CGWATCH_DISABLE_NATIVE=1)", ["memory"], () => {
  it("the same OOM past a 50M limit is detected by polling: oom_kill with source poll", async () => {
    const load = nativeMod.loadNative();
    expect(load).toEqual({ kind: "unavailable", reason: "disabled by CGWATCH_DISABLE_NATIVE=1" });
    expect(nativeMod.nativeAvailability().fallbackMetric).toBe(1);
    const s = createScratchCgroup(["memory"], "fallback");
    const reader = readMod.createFileReader();
    try {
      s.write("memory", "memory.limit_in_bytes", String(50 * 1024 * 1024));
      const watcher = watcherMod.createWatcher({
        layout: s.layout,
        reader,
        patterns: [s.cgroup],
        pollIntervalMs: 100,
        safetyNetIntervalMs: 60_000,
        persistent: false,
        native:
          load.kind === "loaded"
            ? notifiers.createNativeNotifiers({ keepAlive: false, softLimitRecheckMs: 60_000 })
            : null,
      });
      const c = collect(watcher.events$);
      try {
        expect(await watcher.ready).toBe(1);
        expect(watcher.notifierOf(s.cgroup)).toBe("poll");
        const [cmd, args] = hogArgs(150, 1);
        const hog = s.spawnInside(cmd, args, 20_000);
        const got = await c.until((vs) => vs.some((e) => e.kind === "oom_kill"));
        expect((await waitExit(hog)).signal).toBe("SIGKILL");
        expect(got.find((e) => e.kind === "oom_kill")).toMatchObject({
          cgroup: s.cgroup,
          source: "poll",
          counter: { before: 0 },
        });
      } finally {
        c.sub.unsubscribe();
      }
    } finally {
      reader.close();
      await s.remove();
    }
  });
});
