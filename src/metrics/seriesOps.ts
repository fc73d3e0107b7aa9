/** How a kernel value reaches a series: mirrored, raised from an event, or a gauge that drops when unset. */
import type { CgroupEntry, Family, Series } from "./store.js";

/** Sets a counter mirror to an absolute kernel value. */
export function mirror(s: Series, value: number | undefined | null): void {
  if (value === undefined || value === null || !Number.isFinite(value)) return;
  s.value = value;
}

/** Mirrors from an event's `after`: events can arrive after a fresher poll read, so never lower. */
export function raise(s: Series, value: number): void {
  if (Number.isFinite(value) && value > s.value) s.value = value;
}

/** Sets a gauge, or drops its series when the cgroup does not have the setting. */
export function gauge(e: CgroupEntry, family: Family, value: number | null | undefined): void {
  if (value === null || value === undefined || !Number.isFinite(value)) e.drop(family);
  else e.get(family).value = value;
}
