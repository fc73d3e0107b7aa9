/**
 * The allocation-light call path (src/policy/fastCall.ts) and its fallback:
 * an input too large for the scratch area goes through the library's public
 * API, with the same result; non-ASCII text crosses both ways intact.
 */
import { describe, expect, it } from "vitest";
import { createPolicyEngine } from "../../src/policy/engine.js";
import { policy, policyDir, recordingLogger, sample, snapshot } from "./support.js";

const ECHO = policy(
  "echo",
  `ctx.state.n = (ctx.state.n || 0) + 1;
   return [{ kind: "annotate", message: cgroup.labels.big.length + " " + cgroup.labels.text + " " + ctx.state.n }];`,
);

describe("policy call path", () => {
  it("small inputs (scratch area) and a 100 KB input (public API) give the same answers, state carried across both", async () => {
    const engine = await createPolicyEngine({
      dirs: [policyDir({ "echo.js": ECHO })],
      logger: recordingLogger().logger,
    });
    const say = (big: number, at: number): string[] =>
      engine
        .evaluate(sample("a", at), snapshot("a", { labels: { big: "x".repeat(big), text: "größe ✓ 𝄞" } }))
        .map((p) => (p.action.kind === "annotate" ? p.action.message : p.action.kind));
    expect(say(10, 1)).toEqual(["10 größe ✓ 𝄞 1"]);
    expect(say(100_000, 2)).toEqual(["100000 größe ✓ 𝄞 2"]);
    expect(say(65_530, 3)).toEqual(["65530 größe ✓ 𝄞 3"]);
    expect(say(10, 4)).toEqual(["10 größe ✓ 𝄞 4"]);
    expect(engine.policies()[0]).toMatchObject({ calls: 4, failures: 0 });
    engine.close();
  });
});
