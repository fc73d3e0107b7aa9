/**
 * The registry of watched counter files: one module per file in this
 * folder, one line per file below. Adding a counter file is a new module
 * (see counterFile.ts) and a line here; the tracker's counters, the
 * watcher's inotify subscriptions, the publisher's mirrors and the metrics'
 * series follow. The order is the order a sweep reads them in.
 */
import { createCounterFiles, type CounterFileDef } from "./counterFile.js";
import { failcnt } from "./failcnt.js";
import { memoryEvents } from "./memoryEvents.js";
import { oomControl } from "./oomControl.js";
import { pidsEvents } from "./pidsEvents.js";

export const BUILTIN_COUNTER_FILES = [memoryEvents, oomControl, failcnt, pidsEvents] as const;

type Builtin = (typeof BUILTIN_COUNTER_FILES)[number];
type ValueOf<D> = D extends CounterFileDef<string, infer T> ? T : never;

/** The last value read of each counter file, by its key (null: not read yet, or no such file for this cgroup). */
export type CounterValues = { -readonly [D in Builtin as D["key"]]: ValueOf<D> | null };

export const COUNTER_FILES = createCounterFiles(BUILTIN_COUNTER_FILES);

export { createCounterFiles, defineCounterFile } from "./counterFile.js";
export type {
  AnyCounterFile,
  CounterEventKind,
  CounterFamily,
  CounterFileDef,
  CounterFiles,
  CounterGaugeSink,
  CounterMirror,
  CounterState,
  Notify,
} from "./counterFile.js";
