/**
 * Adapts the native-addon sources (src/sources/v1Notifications.ts,
 * psiTrigger.ts) to the watcher's NativeNotifiers interface.
 */
import { EMPTY, catchError, map, merge, timer } from "rxjs";
import { psiTriggerWakes } from "../sources/psiTrigger.js";
import {
  readV1SoftLimit,
  reservationBreachWakes,
  v1OomWakes,
  v1PressureLevelWakes,
} from "../sources/v1Notifications.js";
import type { NativeNotifiers } from "./notifiers.js";
import { SETTINGS_RECHECK_MS } from "./watcher.js";

export interface NativeNotifierOptions {
  /** Keep the loop alive while registrations exist (true in the daemon). */
  readonly keepAlive: boolean;
  /** How often the v1 soft limit is re-read to re-arm the reservation threshold. */
  readonly softLimitRecheckMs: number;
}

export function createNativeNotifiers(options: NativeNotifierOptions): NativeNotifiers {
  const keepAlive = options.keepAlive;
  return {
    v1Oom: (dir, cgroup, confirmed) =>
      v1OomWakes({ dir, cgroup, keepAlive, ...(confirmed === undefined ? {} : { confirmed }) }),
    v1Reservation: (dir, cgroup, fresh = false) =>
      reservationBreachWakes({
        dir,
        cgroup,
        keepAlive,
        // A policy or an operator may change the soft limit: re-read it and
        // re-arm the threshold when it moved (distinct values only). runc
        // writes it after the mkdir: a new cgroup's is re-read on the
        // new-cgroup schedule too.
        softLimits: merge(
          timer(0, options.softLimitRecheckMs),
          ...(fresh ? SETTINGS_RECHECK_MS : []).map((ms) => timer(ms)),
        ).pipe(
          map(() => readV1SoftLimit(dir)),
          catchError(() => EMPTY),
        ),
      }),
    v1PressureLevel: (dir, cgroup, level) => v1PressureLevelWakes({ dir, cgroup, keepAlive, level }),
    psiTrigger: (pressureFile, cgroup, resource, trigger) => {
      const slash = pressureFile.lastIndexOf("/");
      return psiTriggerWakes({
        dir: pressureFile.slice(0, slash),
        file: pressureFile.slice(slash + 1),
        cgroup,
        resource,
        trigger,
        keepAlive,
      });
    },
  };
}
