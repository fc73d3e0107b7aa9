/**
 * Value checks on an action, before anything is read or written. Actions
 * arrive as JSON from policy sandboxes; the policy host validates shapes,
 * but this is the last line before the kernel, so ranges are checked here
 * again and a bad value becomes a clear rejection (never a thrown error or a
 * write the kernel would half-apply).
 */
import { ACTION_LIMITS as L, type IntRange } from "./limits.js";
import { ACTION_KINDS, type Action } from "./types.js";

/** null = valid; otherwise why not. */
export function validateAction(action: Action): string | null {
  if (typeof action !== "object" || action === null) return "action is not an object";
  if (!(ACTION_KINDS as readonly string[]).includes((action as { kind?: unknown }).kind as string)) {
    return `unknown action kind ${JSON.stringify((action as { kind?: unknown }).kind)}`;
  }
  switch (action.kind) {
    case "set_memory_limit":
    case "set_memory_high":
    case "set_swap_limit":
    case "set_memory_reservation":
      return bytesOrMax("bytes", action.bytes);
    case "set_swappiness":
      return intIn("value", action.value, L.swappiness);
    case "set_oom_score_adj":
      return intIn("value", action.value, L.oomScoreAdj);
    case "set_oom_kill_disable":
      return typeof action.disable === "boolean" ? null : "disable must be true or false";
    case "set_oom_group":
      return typeof action.enable === "boolean" ? null : "enable must be true or false";
    case "set_cpu_quota":
      if (action.quotaUs !== "max") {
        const q = intIn("quotaUs", action.quotaUs, L.cpuQuotaUs);
        if (q !== null) return q;
      }
      return action.periodUs === undefined ? null : intIn("periodUs", action.periodUs, L.cpuPeriodUs);
    case "set_cpu_burst":
      return intIn("burstUs", action.burstUs, L.cpuBurstUs);
    case "set_cpu_shares":
      return intIn("shares", action.shares, L.cpuShares);
    case "set_cpuset":
      if (action.cpus === undefined && action.mems === undefined) return "set_cpuset needs cpus or mems";
      return cpuList("cpus", action.cpus) ?? cpuList("mems", action.mems);
    case "set_pids_max":
      return action.max === "max" ? null : intIn("max", action.max, L.pidsMax);
    case "set_io_weight":
      return intIn("weight", action.weight, L.ioWeight);
    case "set_io_throttle": {
      if (typeof action.device !== "string" || !/^\d+:\d+$/.test(action.device)) return `device must be "major:minor", got ${JSON.stringify(action.device)}`;
      const fields = [
        ["readBps", action.readBps, L.bytes],
        ["writeBps", action.writeBps, L.bytes],
        ["readIops", action.readIops, L.iops],
        ["writeIops", action.writeIops, L.iops],
      ] as const;
      if (fields.every(([, v]) => v === undefined)) return "set_io_throttle needs at least one of readBps, writeBps, readIops, writeIops";
      for (const [name, v, range] of fields) {
        if (v === undefined) continue;
        const err = v === "max" ? null : intIn(name, v, range);
        if (err !== null) return err;
      }
      return null;
    }
    case "freeze":
    case "thaw":
    case "kill":
      return null;
    case "annotate":
      if (typeof action.message !== "string" || action.message.trim() === "") return "annotate needs a non-empty message";
      return action.message.length > L.annotateMessageChars.max ? `annotate message longer than ${L.annotateMessageChars.max} characters` : null;
  }
}

function intIn(name: string, v: unknown, { min, max }: IntRange): string | null {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) return `${name} must be an integer, got ${JSON.stringify(v)}`;
  if (v < min || v > max) return `${name} must be in [${min}, ${max}], got ${v}`;
  return null;
}

function bytesOrMax(name: string, v: unknown): string | null {
  if (v === "max") return null;
  return intIn(name, v, L.bytes);
}

/** Kernel list format: "0-3,5,7-8". */
function cpuList(name: string, v: string | undefined): string | null {
  if (v === undefined) return null;
  if (typeof v !== "string" || !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) return `${name} must be a list like "0-3,5", got ${JSON.stringify(v)}`;
  return null;
}
