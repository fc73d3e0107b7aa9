/**
 * `cgwatch run`, instrumented for bench/vm/psi-wait.ts: the daemon as the
 * CLI starts it (runDaemon, same config, same policies), plus a trace line
 * (CLOCK_MONOTONIC ms, the reference trigger's clock) per handled event:
 * when its fd callback ran (`at`), when the daemon started handling it,
 * when the policy call began and ended, and when handling ended. Not part of
 * the product: it only wraps the daemon's own objects, so the trace shows
 * where a PSI wake waited without changing what the daemon does.
 *
 * Usage: node traced-daemon.js <config.yaml> <trace.jsonl>
 */
import fs from "node:fs";
import { startDaemon, type DaemonOptions } from "../../src/daemon.js";
import type { WatchdogEvent } from "../../src/events/types.js";
import { runDaemon } from "../../src/lifecycle/run.js";

const [config, traceFile] = process.argv.slice(2);
if (config === undefined || traceFile === undefined) throw new Error("usage: traced-daemon <config> <trace>");
const fd = fs.openSync(traceFile, "w");
const mono = (): number => Number(process.hrtime.bigint()) / 1e6;
// performance.now() (the events' `at`) → CLOCK_MONOTONIC.
const perfToMono = mono() - performance.now();

interface Open {
  kind: string;
  cgroup: string;
  at: number;
  start: number;
  /** The daemon asked whether any policy wants the event (the snapshot read follows when one does). */
  wanted: number | null;
  policyStart: number | null;
  policyEnd: number | null;
}
let open: Open | null = null;

const traced = async (options: DaemonOptions): ReturnType<typeof startDaemon> => {
  const daemon = await startDaemon({
    ...options,
    onEvent: (e: WatchdogEvent) => {
      if (open !== null) fs.writeSync(fd, `${JSON.stringify({ ...open, end: mono() })}\n`);
      open = null;
      options.onEvent?.(e);
    },
  });
  // The daemon calls these through the objects it returns: wrapping them here times its own calls.
  const metrics = daemon.metrics as { recordEvent: (e: WatchdogEvent) => void };
  const recordEvent = metrics.recordEvent.bind(metrics);
  metrics.recordEvent = (e) => {
    open = {
      kind: e.kind,
      cgroup: e.cgroup,
      at: e.at + perfToMono,
      start: mono(),
      wanted: null,
      policyStart: null,
      policyEnd: null,
    };
    recordEvent(e);
  };
  const policies = daemon.policies as {
    evaluateDetailed: (...a: never[]) => unknown;
    wantsEvent: (...a: never[]) => boolean;
  };
  const wants = policies.wantsEvent.bind(policies);
  policies.wantsEvent = (...a: never[]) => {
    if (open !== null && open.wanted === null) open.wanted = mono();
    return wants(...a);
  };
  const evaluate = policies.evaluateDetailed.bind(policies);
  policies.evaluateDetailed = (...a: never[]) => {
    const t0 = mono();
    if (open !== null) open.policyStart = t0;
    try {
      return evaluate(...a);
    } finally {
      const t1 = mono();
      if (open !== null) open.policyEnd = t1;
      else {
        // A coalesced follow-up (src/coalesce/): evaluated from its timer, outside any event's handling.
        const e = (a as unknown[])[0] as WatchdogEvent;
        fs.writeSync(
          fd,
          `${JSON.stringify({ kind: `${e.kind} follow-up`, cgroup: e.cgroup, at: e.at + perfToMono, start: t0, wanted: t0, policyStart: t0, policyEnd: t1, end: t1 })}\n`,
        );
      }
    }
  };
  return daemon;
};

process.exitCode = await runDaemon({ path: config, env: process.env, pid: process.pid }, { start: traced });
