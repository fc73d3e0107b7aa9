/** Replays a recorded trace through `runPolicyTest` (what `cgwatch policy test` runs) and keeps the decision lines. */
import path from "node:path";
import { runPolicyTest } from "../../src/policy/replay.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

export async function replay(
  policy: string,
  trace: string,
  params?: Record<string, unknown>,
): Promise<{ decisions: string[]; logs: string[]; lines: string[]; exitCode: number }> {
  const r = await runPolicyTest({
    policyFile: path.join(ROOT, "policies", `${policy}.js`),
    eventsFile: path.join(ROOT, "test/fixtures/traces", `${trace}.jsonl`),
    ...(params === undefined ? {} : { params }),
  });
  return {
    decisions: r.lines.filter((l) => l.startsWith("line ")),
    logs: r.lines.filter((l) => l.startsWith("  log ")),
    lines: r.lines,
    exitCode: r.exitCode,
  };
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
