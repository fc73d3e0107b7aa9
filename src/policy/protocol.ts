/**
 * The wire format between the host and the prelude (prelude.ts), named:
 * two JSON strings in per call, one JSON string back. Params are not in it:
 * the sandbox holds them, sent once per change (PolicySandbox.call).
 *
 *   in:   {"event": WatchdogEvent, "cgroup": CgroupSnapshot}  (serialised once per event, for every policy)
 *         and ctx.state (JSON text, as the host keeps it)
 *   out:  {"result": onEvent's return, "stateJson": ctx.state as JSON text,
 *          "logs": [[level, msg, fieldsJson], ...], "dropped": n, "error": {name, message, stack} | null}
 *   or:   {"tooLarge": characters}  (the output was over the cap; nothing else is sent)
 *
 * `stateJson` is text, so the host keeps it as it comes (no parse and re-serialise per call).
 */

/**
 * The event and snapshot as one flat JSON string, built once per event: every
 * policy's call copies these bytes into its sandbox as they are (a string
 * concatenated per call would be flattened, i.e. copied on the JS heap, per call).
 */
export function eventInput(event: WatchdogEvent, snapshot: CgroupSnapshot): string {
  return JSON.stringify({ event, cgroup: snapshot });
}

import type { CgroupSnapshot } from "../cgroup/snapshot.js";
import type { WatchdogEvent } from "../events/types.js";

/** An error the policy threw, as the prelude describes it. */
export interface ThrownError {
  readonly name: string;
  readonly message: string;
  readonly stack: string;
}

/** A reply that parsed: still untrusted (the result is validated by validate.ts). */
export interface PolicyReply {
  readonly result: unknown;
  /** ctx.state after the call as JSON text; null = no state (undefined, or not serialisable to a string). */
  readonly stateJson: string | null;
  readonly logs: readonly unknown[];
  readonly dropped: number;
  readonly error: ThrownError | null;
}

export type ReplyResult =
  { readonly kind: "ok"; readonly reply: PolicyReply } | { readonly kind: "invalid"; readonly reason: string };

interface ReplyWire {
  readonly result?: unknown;
  readonly stateJson?: unknown;
  readonly logs?: unknown;
  readonly dropped?: unknown;
  readonly error?: unknown;
  readonly tooLarge?: unknown;
}

/**
 * The UTF-8 size of a string when it is over `max` bytes, else null. A string
 * of n UTF-16 units has at most 3n UTF-8 bytes, so the common small string is
 * cleared without measuring it (Buffer.byteLength allocates).
 */
export function utf8Over(s: string, max: number): number | null {
  if (s.length * 3 <= max) return null;
  const bytes = Buffer.byteLength(s);
  return bytes > max ? bytes : null;
}

/** Parse and check one reply; `maxOutputBytes` is re-checked in bytes here (the prelude counts UTF-16 units). */
export function readReply(output: string, maxOutputBytes: number): ReplyResult {
  const bytes = utf8Over(output, maxOutputBytes);
  if (bytes !== null) return { kind: "invalid", reason: `output is ${bytes} B, over the ${maxOutputBytes} B cap` };
  let wire: ReplyWire;
  try {
    wire = JSON.parse(output) as ReplyWire;
  } catch (e) {
    return { kind: "invalid", reason: `output is not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (typeof wire !== "object" || wire === null) return { kind: "invalid", reason: "output is not a JSON object" };
  if (wire.tooLarge !== undefined) {
    return {
      kind: "invalid",
      reason: `output is ${typeof wire.tooLarge === "number" ? wire.tooLarge : "?"} characters, over the ${maxOutputBytes} B cap`,
    };
  }
  const stateJson = typeof wire.stateJson === "string" && wire.stateJson !== "null" ? wire.stateJson : null;
  return {
    kind: "ok",
    reply: {
      result: wire.result,
      stateJson,
      logs: Array.isArray(wire.logs) ? (wire.logs as unknown[]) : [],
      dropped: typeof wire.dropped === "number" ? wire.dropped : 0,
      error: thrown(wire.error),
    },
  };
}

function thrown(e: unknown): ThrownError | null {
  if (e === null || e === undefined) return null;
  const o = (typeof e === "object" ? e : {}) as { name?: unknown; message?: unknown; stack?: unknown };
  return { name: String(o.name), message: String(o.message), stack: typeof o.stack === "string" ? o.stack : "" };
}
