import { Subject, filter, type MonoTypeOperatorFunction } from "rxjs";
import { pino, type Logger } from "pino";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { WatchdogEvent } from "../../src/events/types.js";
import { NOTHING_DECIDED, runPipeline, type Decided, type PipelineStages } from "../../src/pipeline/pipeline.js";

const event = (cgroup: string, kind: WatchdogEvent["kind"] = "sample"): WatchdogEvent =>
  ({ kind, cgroup, at: 0, source: "poll" }) as unknown as WatchdogEvent;

function collectingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString("utf8").split("\n"))
        if (l.trim() !== "") lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}

/** Stages that record what each one saw, in one trace. */
function tracing(beforePolicies: MonoTypeOperatorFunction<WatchdogEvent>[] = []): {
  stages: PipelineStages;
  trace: string[];
} {
  const trace: string[] = [];
  const decidedFor = (e: WatchdogEvent): Decided =>
    ({ evaluations: [{ policy: `p-${e.cgroup}`, proposals: [] }], decisions: [] }) as unknown as Decided;
  return {
    trace,
    stages: {
      observe: (e) => {
        trace.push(`observe ${e.cgroup}`);
        return e;
      },
      beforePolicies,
      decide: (e) => {
        trace.push(`decide ${e.cgroup}`);
        return decidedFor(e);
      },
      settle: (e, d) =>
        void trace.push(`settle ${e.cgroup} ${d === NOTHING_DECIDED ? "nothing" : String(d.evaluations.length)}`),
    },
  };
}

describe("the per-event pipeline", () => {
  it("observes, decides and settles each event in turn, settling with what was decided for it", () => {
    const events$ = new Subject<WatchdogEvent>();
    const { stages, trace } = tracing();
    const sub = runPipeline(events$, stages, collectingLogger().logger);
    for (const c of ["a", "b"]) events$.next(event(c));
    sub.unsubscribe();
    expect(trace).toEqual(["observe a", "decide a", "settle a 1", "observe b", "decide b", "settle b 1"]);
  });

  it("an event the beforePolicies operators hold is still observed and settled, with nothing decided", () => {
    const events$ = new Subject<WatchdogEvent>();
    // An operator that thins what policies see (as a coalescer would).
    const { stages, trace } = tracing([filter((e) => e.cgroup !== "held")]);
    const sub = runPipeline(events$, stages, collectingLogger().logger);
    for (const c of ["a", "held", "b"]) events$.next(event(c));
    sub.unsubscribe();
    expect(trace).toEqual([
      "observe a",
      "decide a",
      "settle a 1",
      "observe held",
      "settle held nothing",
      "observe b",
      "decide b",
      "settle b 1",
    ]);
  });

  it("what an operator passes on later is decided, not settled again", () => {
    const events$ = new Subject<WatchdogEvent>();
    const later = new Subject<WatchdogEvent>();
    // Holds everything, and passes on whatever `later` emits (a follow-up after a window).
    const holdAndFollowUp: MonoTypeOperatorFunction<WatchdogEvent> = () => later;
    const { stages, trace } = tracing([holdAndFollowUp]);
    const sub = runPipeline(events$, stages, collectingLogger().logger);
    events$.next(event("a"));
    later.next(event("a-merged"));
    sub.unsubscribe();
    expect(trace).toEqual(["observe a", "settle a nothing", "decide a-merged"]);
  });

  it("decides on the event observe returns (e.g. an oom_kill with its victim attached)", () => {
    const events$ = new Subject<WatchdogEvent>();
    const decided: WatchdogEvent[] = [];
    const stages: PipelineStages = {
      observe: (e) => ({ ...e, cgroup: `${e.cgroup}+` }),
      beforePolicies: [],
      decide: (e) => {
        decided.push(e);
        return NOTHING_DECIDED;
      },
      settle: () => undefined,
    };
    const sub = runPipeline(events$, stages, collectingLogger().logger);
    events$.next(event("a", "oom_kill"));
    sub.unsubscribe();
    expect(decided.map((e) => e.cgroup)).toEqual(["a+"]);
  });

  it("one event's failure in observe or decide is logged with the event, skips its settle, and the loop goes on", async () => {
    const events$ = new Subject<WatchdogEvent>();
    const settled: string[] = [];
    const { logger, lines } = collectingLogger();
    const stages: PipelineStages = {
      observe: (e) => {
        if (e.cgroup === "bad-observe") throw new Error("observe bug");
        return e;
      },
      beforePolicies: [],
      decide: (e) => {
        if (e.cgroup === "bad-decide") throw new Error("decide bug");
        return NOTHING_DECIDED;
      },
      settle: (e) => void settled.push(e.cgroup),
    };
    const sub = runPipeline(events$, stages, logger);
    for (const c of ["a", "bad-observe", "b", "bad-decide", "c"]) events$.next(event(c));
    sub.unsubscribe();
    await new Promise((r) => setImmediate(r));
    expect(settled).toEqual(["a", "b", "c"]);
    const failures = lines.filter((l) => l["msg"] === "event handling failed");
    expect(failures.map((l) => (l["event"] as { cgroup: string }).cgroup)).toEqual(["bad-observe", "bad-decide"]);
  });
});
