/**
 * The fallback path: with CGWATCH_DISABLE_NATIVE=1 set before the module is
 * loaded, everything that needs the addon reports "unavailable" (for the
 * daemon's one startup log line and cgwatch_notifier_fallback) and the
 * sources fail on their error channel, never by throwing from subscribe().
 */
import { of as rxOf } from "rxjs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type * as NativeModule from "../../src/native/index.js";
import type * as SdNotifyModule from "../../src/native/sdNotify.js";
import type * as V1Module from "../../src/sources/v1Notifications.js";
import type * as PsiModule from "../../src/sources/psiTrigger.js";
import type * as EventfdModule from "../../src/sources/eventfd.js";
import { record } from "./util.js";

describe("CGWATCH_DISABLE_NATIVE=1", () => {
  let nativeMod: typeof NativeModule;
  let sd: typeof SdNotifyModule;
  let v1: typeof V1Module;
  let psi: typeof PsiModule;
  let efd: typeof EventfdModule;

  beforeAll(async () => {
    vi.stubEnv("CGWATCH_DISABLE_NATIVE", "1");
    vi.resetModules();
    nativeMod = await import("../../src/native/index.js");
    sd = await import("../../src/native/sdNotify.js");
    v1 = await import("../../src/sources/v1Notifications.js");
    psi = await import("../../src/sources/psiTrigger.js");
    efd = await import("../../src/sources/eventfd.js");
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  it("the loader reports unavailable with the reason", () => {
    expect(nativeMod.loadNative()).toEqual({ kind: "unavailable", reason: "disabled by CGWATCH_DISABLE_NATIVE=1" });
    expect(nativeMod.nativeAvailability()).toEqual({
      available: false,
      reason: "disabled by CGWATCH_DISABLE_NATIVE=1",
      fallbackMetric: 1,
    });
  });

  it("every source errors with native_unavailable on its error channel, and subscribe() does not throw", () => {
    const sources = [
      v1.v1OomWakes({ dir: "/sys/fs/cgroup/memory", cgroup: "" }),
      v1.v1ThresholdWakes({ dir: "/sys/fs/cgroup/memory", cgroup: "", thresholdBytes: 1 << 20 }),
      v1.v1PressureLevelWakes({ dir: "/sys/fs/cgroup/memory", cgroup: "", level: "low" }),
      v1.reservationBreachWakes({ dir: "/sys/fs/cgroup/memory", cgroup: "", softLimits: rxOf(64 << 20) }),
      psi.psiTriggerWakes({
        dir: "/proc/pressure",
        file: "memory",
        cgroup: "",
        resource: "memory",
        trigger: "some 150000 2000000",
      }),
    ];
    for (const s of sources) {
      const r = record(s);
      expect(r.error).toBeInstanceOf(efd.NativeSourceError);
      expect((r.error as EventfdModule.NativeSourceError).kind).toBe("native_unavailable");
      expect((r.error as Error).message).toContain("CGWATCH_DISABLE_NATIVE=1");
      expect(r.values).toEqual([]);
    }
  });

  it("sdNotify says why it cannot notify", () => {
    expect(sd.sdNotify("READY=1", { NOTIFY_SOCKET: "/run/systemd/notify" })).toEqual({
      kind: "unavailable",
      reason: "cannot notify systemd without the native addon: disabled by CGWATCH_DISABLE_NATIVE=1",
    });
  });
});
