import { describe, expect, it } from "vitest";
import { createSteps, started } from "../../src/lifecycle/steps.js";

/** A logger that keeps what it was told. */
function errors(): {
  lines: Array<{ fields: Record<string, unknown>; msg: string }>;
  error(fields: Record<string, unknown>, msg: string): void;
} {
  const lines: Array<{ fields: Record<string, unknown>; msg: string }> = [];
  return { lines, error: (fields, msg) => lines.push({ fields, msg }) };
}

describe("startup steps", () => {
  it("runs steps in order, hands each one's value back, and stops them in reverse", async () => {
    const trace: string[] = [];
    const steps = createSteps(errors());
    const a = await steps.run("a", () => {
      trace.push("start a");
      return started(1, () => void trace.push("stop a"));
    });
    const b = await steps.run("b", async () => {
      trace.push(`start b after ${a}`);
      await new Promise((r) => setTimeout(r, 5));
      return started(a + 1, async () => {
        await new Promise((r) => setTimeout(r, 5));
        trace.push("stop b");
      });
    });
    // A step with nothing to release has no stop.
    await steps.run("c", () => started(b + 1));
    steps.onStop("late hook", () => void trace.push("stop late hook"));
    expect(steps.started()).toEqual(["a", "b", "late hook"]);
    await steps.stop();
    expect(trace).toEqual(["start a", "start b after 1", "stop late hook", "stop b", "stop a"]);
    // Stopped once: a second stop runs nothing again.
    await steps.stop();
    expect(trace.filter((t) => t.startsWith("stop"))).toHaveLength(3);
  });

  it("a failing step stops the steps already started (in reverse) and rethrows its error", async () => {
    const trace: string[] = [];
    const steps = createSteps(errors());
    await steps.run("first", () => started("x", () => void trace.push("stop first")));
    await steps.run("second", () => started("y", () => void trace.push("stop second")));
    const failure = new Error("port in use");
    await expect(
      steps.run("third", () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(trace).toEqual(["stop second", "stop first"]);
    expect(steps.started()).toEqual([]);
  });

  it("a rejected async step stops the earlier ones too", async () => {
    const trace: string[] = [];
    const steps = createSteps(errors());
    await steps.run("first", () => started(null, () => void trace.push("stop first")));
    await expect(steps.run("second", () => Promise.reject(new Error("no such fd")))).rejects.toThrow("no such fd");
    expect(trace).toEqual(["stop first"]);
  });

  it("a failing stop is logged with its step's name and the other stops still run", async () => {
    const trace: string[] = [];
    const log = errors();
    const steps = createSteps(log);
    await steps.run("reader", () => started(null, () => void trace.push("stop reader")));
    await steps.run("server", () =>
      started(null, () => {
        throw new Error("close failed");
      }),
    );
    await steps.run("timer", () => started(null, () => Promise.reject(new Error("late"))));
    await steps.stop();
    expect(trace).toEqual(["stop reader"]);
    expect(log.lines.map((l) => [l.fields["step"], l.msg])).toEqual([
      ["timer", "shutdown step failed"],
      ["server", "shutdown step failed"],
    ]);
  });
});
