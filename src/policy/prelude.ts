/**
 * The only code cgwatch runs inside a policy sandbox besides the policy: a
 * dispatcher that takes one JSON string in and hands one JSON string back.
 * JSON in/out is the fastest way across the boundary (measured 84k calls/s)
 * and means no host object or function is ever reachable from the sandbox:
 * `ctx.log` records into an array that travels back with the result.
 *
 * It is evaluated before the policy module, so it captures `JSON`, `Object`
 * and friends before the policy could replace them; a policy that tampers
 * with its own globals can only corrupt its own output, which the host
 * validates anyway.
 */
import { NON_FINITE_KEY } from "./validate.js";

export interface PreludeLimits {
  readonly maxLogsPerCall: number;
  readonly maxOutputBytes: number;
}

/** Global script evaluating to `[dispatch, metaToJson, setParams]`. Limits are baked in as integer literals. */
export function preludeSource(limits: PreludeLimits): string {
  const maxLogs = Math.max(0, Math.floor(limits.maxLogsPerCall));
  // JSON length is counted in UTF-16 units inside the VM; the host re-checks bytes.
  const maxOut = Math.max(1024, Math.floor(limits.maxOutputBytes));
  return `(function () {
  "use strict";
  const parse = JSON.parse, stringify = JSON.stringify, freeze = Object.freeze, isFrozen = Object.isFrozen,
    keys = Object.keys, toStr = String, isFin = Number.isFinite;
  const MARK = ${JSON.stringify(NON_FINITE_KEY)};
  function deepFreeze(o) {
    if (o !== null && typeof o === "object" && !isFrozen(o)) {
      freeze(o);
      const ks = keys(o);
      for (let i = 0; i < ks.length; i++) deepFreeze(o[ks[i]]);
    }
    return o;
  }
  // NaN and Infinity would silently become null in JSON; mark them so validation can name them.
  function nonFinite(k, v) {
    if (typeof v === "number" && !isFin(v)) { const m = {}; m[MARK] = toStr(v); return m; }
    return v;
  }
  function safeString(v, max) {
    try { return toStr(v).slice(0, max); } catch (e) { return "<unprintable>"; }
  }
  function describeError(e) {
    if (e !== null && typeof e === "object" && typeof e.message === "string") {
      return { name: safeString(e.name, 64), message: safeString(e.message, 2048), stack: safeString(e.stack, 4096) };
    }
    return { name: "Error", message: "non-Error thrown: " + safeString(e, 2048), stack: "" };
  }
  // Params change only on a config reload: the host sends them once (setParams), frozen here once,
  // not parsed and frozen again on every call.
  let params = freeze({});
  function setParams(json) {
    params = deepFreeze(parse(json));
  }
  // One log function for every call (no closure per call); dispatch resets what it records into.
  let logs = [];
  let dropped = 0;
  function log(level, msg, fields) {
    if (logs.length >= ${maxLogs}) { dropped++; return; }
    let f = "null";
    if (fields !== undefined) {
      try { f = stringify(fields, nonFinite); } catch (e) { f = '"<unserialisable fields>"'; }
      if (typeof f !== "string" || f.length > 4096) f = '"<fields too large>"';
    }
    logs.push([safeString(level, 16), safeString(msg, 1024), f]);
  }
  // Input {event, cgroup} (the same text for every policy on one event) and the state JSON apart; output {result, stateJson, logs, dropped, error} or {tooLarge}
  // (src/policy/protocol.ts). stateJson is ctx.state as JSON *text*, so the host stores it as it
  // comes instead of parsing it into objects and serialising them again.
  function dispatch(fn, input, stateJson) {
    const inp = parse(input);
    logs = [];
    dropped = 0;
    const ctx = { params: params, state: parse(stateJson), log: log };
    let result, err = null;
    try {
      result = fn.call(undefined, deepFreeze(inp.event), deepFreeze(inp.cgroup), ctx);
    } catch (e) {
      err = describeError(e);
    }
    let r = "null", s = "null";
    if (err === null) {
      try {
        r = result === undefined ? "null" : stringify(result, nonFinite);
        s = ctx.state === undefined ? "null" : stringify(ctx.state);
        if (typeof r !== "string") r = "null";
        if (typeof s !== "string") s = "null";
      } catch (e) {
        err = describeError(e);
        err.message = "result or ctx.state is not JSON-serialisable: " + err.message;
      }
    }
    const out = '{"result":' + r + ',"stateJson":' + stringify(s) + ',"logs":' + (logs.length === 0 ? "[]" : stringify(logs)) +
      ',"dropped":' + dropped + ',"error":' + (err === null ? "null" : stringify(err)) + "}";
    if (out.length > ${maxOut}) return stringify({ tooLarge: out.length });
    return out;
  }
  function metaToJson(meta) {
    const out = stringify(meta === undefined ? null : meta, nonFinite);
    return typeof out === "string" && out.length <= ${maxOut} ? out : stringify({ tooLarge: typeof out === "string" ? out.length : -1 });
  }
  return [dispatch, metaToJson, setParams];
})()`;
}
