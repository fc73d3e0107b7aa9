import { Subject, filter } from "rxjs";
import { pino, type Logger } from "pino";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { WatchdogEvent } from "../../src/events/types.js";
import { runPipeline } from "../../src/pipeline/pipeline.js";

const event = (cgroup: string, kind: WatchdogEvent["kind"] = "sample"): WatchdogEvent => ({ kind, cgroup, at: 0, source: "poll" }) as unknown as WatchdogEvent;

function collectingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString("utf8").split("\n")) if (l.trim() !== "") lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}

describe("the per-event pipeline", () => {
  it("observes every event, then runs the beforePolicies operators, then decides on what they let through", () => {
    const events$ = new Subject<WatchdogEvent>();
    const observed: string[] = [];
    const decided: string[] = [];
    const { logger } = collectingLogger();
    const sub = runPipeline(
      events$,
      {
        observe: (e) => {
          observed.push(e.cgroup);
          return e;
        },
        // An operator that thins what policies see (as a coalescer would): every event is still observed.
        beforePolicies: [filter((e) => e.cgroup !== "quiet")],
        decide: (e) => decided.push(e.cgroup),
      },
      logger,
    );
    for (const c of ["a", "quiet", "b"]) events$.next(event(c));
    sub.unsubscribe();
    expect(observed).toEqual(["a", "quiet", "b"]);
    expect(decided).toEqual(["a", "b"]);
  });

  it("decides on the event observe returns (e.g. an oom_kill with its victim attached)", () => {
    const events$ = new Subject<WatchdogEvent>();
    const decided: WatchdogEvent[] = [];
    const sub = runPipeline(events$, { observe: (e) => ({ ...e, cgroup: `${e.cgroup}+` }), beforePolicies: [], decide: (e) => decided.push(e) }, collectingLogger().logger);
    events$.next(event("a", "oom_kill"));
    sub.unsubscribe();
    expect(decided.map((e) => e.cgroup)).toEqual(["a+"]);
  });

  it("one event's failure in either stage is logged with the event and the loop goes on", async () => {
    const events$ = new Subject<WatchdogEvent>();
    const decided: string[] = [];
    const { logger, lines } = collectingLogger();
    const sub = runPipeline(
      events$,
      {
        observe: (e) => {
          if (e.cgroup === "bad-observe") throw new Error("observe bug");
          return e;
        },
        beforePolicies: [],
        decide: (e) => {
          if (e.cgroup === "bad-decide") throw new Error("decide bug");
          decided.push(e.cgroup);
        },
      },
      logger,
    );
    for (const c of ["a", "bad-observe", "b", "bad-decide", "c"]) events$.next(event(c));
    sub.unsubscribe();
    await new Promise((r) => setImmediate(r));
    expect(decided).toEqual(["a", "b", "c"]);
    const failures = lines.filter((l) => l["msg"] === "event handling failed");
    expect(failures.map((l) => (l["event"] as { cgroup: string }).cgroup)).toEqual(["bad-observe", "bad-decide"]);
  });
});
