/**
 * The follow-up re-reads after a v1 OOM notification: at 1, 2, 4 ... ms, so
 * the kill (counted ~3 ms after the wake) is seen within about a millisecond,
 * and no more once the notification is confirmed. A fake addon stands in for
 * the kernel's eventfd; the real path is measured in `npm run bench`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CgwatchNative, NativeLoad, NativeWatchCallback } from "../../src/native/index.js";
import { OOM_CONFIRM_DELAYS_MS, v1OomWakes } from "../../src/sources/v1Notifications.js";
import type { Wake } from "../../src/sources/types.js";

afterEach(() => {
  vi.useRealTimers();
});

function fakeAddon(): { load: NativeLoad; tick(): void } {
  let callback: NativeWatchCallback | null = null;
  const native = {
    openV1Notification: () => 7,
    closeFd: () => undefined,
    Watcher: class {
      constructor(_fd: number, _mode: number, cb: NativeWatchCallback) {
        callback = cb;
      }
      close(): void {
        callback = null;
      }
      unref(): void {}
    },
  } as unknown as CgwatchNative;
  return { load: { kind: "loaded", native, path: "fake" }, tick: () => callback?.(null, 1) };
}

describe("OOM follow-up re-reads", () => {
  it("re-read at the wake and 1, 2, 4 ... ms after it, all carrying the wake's time, up to the 1 s bound", () => {
    vi.useFakeTimers();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-oomc-"));
    const fake = fakeAddon();
    const seen: { wake: Wake; t: number }[] = [];
    const t0 = Date.now();
    const sub = v1OomWakes({ dir, cgroup: "c", load: fake.load, keepAlive: false }).subscribe((wake) =>
      seen.push({ wake, t: Date.now() - t0 }),
    );
    fake.tick();
    vi.advanceTimersByTime(2000);
    expect(seen.map((s) => s.t)).toEqual([0, ...OOM_CONFIRM_DELAYS_MS]);
    expect(OOM_CONFIRM_DELAYS_MS.slice(0, 4)).toEqual([1, 2, 4, 8]);
    expect(new Set(seen.map((s) => s.wake.at)).size).toBe(1);
    sub.unsubscribe();
    fs.rmSync(dir, { recursive: true });
  });

  it("stop once the notification is confirmed (its oom_kill counted)", () => {
    vi.useFakeTimers();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-oomc-"));
    const fake = fakeAddon();
    let reads = 0;
    const t0 = Date.now();
    let last = -1;
    // The kill is counted 3 ms after the wake: the 4 ms re-read sees it.
    const confirmedAt = new Set<number>();
    const sub = v1OomWakes({
      dir,
      cgroup: "c",
      load: fake.load,
      keepAlive: false,
      confirmed: (at) => confirmedAt.has(at),
    }).subscribe((wake) => {
      reads++;
      last = Date.now() - t0;
      if (last >= 3) confirmedAt.add(wake.at);
    });
    fake.tick();
    vi.advanceTimersByTime(2000);
    expect({ reads, last }).toEqual({ reads: 4, last: 4 });
    sub.unsubscribe();
    fs.rmSync(dir, { recursive: true });
  });
});
