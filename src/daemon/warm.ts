/**
 * A fresh daemon's first action runs cold code: V8 compiles each function on
 * its first call and optimises it only after type feedback. Measured in
 * bench/stress/event-stages.ts: the executor's first proposal took ~1.2 ms
 * of which almost all is that, and the first OOM a daemon answers is exactly
 * the one that must be fast. So once the first scan is done, the snapshot
 * read and the executor run once, in dry-run, on the first watched cgroup:
 * its files are read, nothing is written, and nothing is logged or counted
 * (a separate executor with a silent logger, no hooks and its own cooldowns).
 * The policies are not called: their state, logs and counters are theirs.
 */
import { pino } from "pino";
import { createActionExecutor } from "../actions/executor.js";
import type { ActionProposal } from "../actions/types.js";
import type { FileReader } from "../cgroup/read.js";
import type { GuardedWriter } from "../cgroup/writer.js";
import type { EventReads } from "../pipeline/eventReads.js";
import type { Watcher } from "../watch/watcher.js";
import { readSnapshot } from "../watch/snapshot.js";
import type { StartContext } from "./context.js";

const GiB = 2 ** 30;

export function warmDecisionPath(
  c: StartContext,
  d: {
    readonly cgroup: string;
    readonly reader: FileReader;
    readonly writer: GuardedWriter;
    readonly reads: EventReads;
  },
): void {
  const { options } = c;
  const dryRun = { ...c.config.guardrails, global: { ...c.config.guardrails.global, dryRun: true } };
  const executor = createActionExecutor({
    layout: c.layout,
    writer: d.writer,
    procRoot: options.procRoot,
    guardrails: dryRun,
    logger: pino({ level: "silent" }),
    clock: { now: c.now },
    hostMemoryBytes: options.hostMemoryBytes,
    ownCgroups: options.ownCgroups,
    read: (p) => d.reads.readAt(p),
  });
  d.reads.during(() => {
    const snapshot = readSnapshot(c.layout, d.reader, d.cgroup, {}, "once");
    const proposal = {
      policy: "cgwatch-warm-up",
      cgroup: d.cgroup,
      action: { kind: "set_memory_limit", bytes: snapshot.memory?.limitBytes ?? GiB },
      cause: { kind: "cgroup_added", at: c.now() },
    } as unknown as ActionProposal;
    executor.execute(proposal, { event: "cgroup_added" });
  });
}

/** Once `ready` resolves, warms the path on the first watched cgroup (none: nothing to warm). */
export function warmAfterReady(
  c: StartContext,
  ready: Promise<number>,
  d: {
    readonly watcher: Pick<Watcher, "trackers">;
    readonly reader: FileReader;
    readonly writer: GuardedWriter;
    readonly reads: EventReads;
  },
): void {
  void ready.then(
    () => {
      const first = d.watcher.trackers.keys().next();
      if (first.done === true) return;
      try {
        warmDecisionPath(c, { ...d, cgroup: first.value });
      } catch {
        /* a warm-up that fails costs the first action its compile time, nothing else */
      }
    },
    () => undefined,
  ); // a failed first scan is reported by whoever awaits `ready`
}
