/**
 * A cgroup snapshot read from a trace or a `--snapshot` file, checked
 * before a policy sees it: a wrong type is refused with the field's path
 * (never read as "no action"); a missing field is null, as it is for a file
 * the kernel does not have, so hand-written snapshots can stay short.
 * Unknown fields pass through (newer cgwatch versions add some).
 */
import type { CgroupSnapshot } from "../cgroup/snapshot.js";

export type SnapshotCheck =
  { readonly kind: "ok"; readonly snapshot: CgroupSnapshot } | { readonly kind: "invalid"; readonly reason: string };

type Field = "number" | "boolean";
const MEMORY: Readonly<Record<string, Field>> = {
  usageBytes: "number",
  limitBytes: "number",
  swapLimitBytes: "number",
  reservationBytes: "number",
  highBytes: "number",
  swappiness: "number",
  oomKillDisable: "boolean",
  underOom: "boolean",
  oomKills: "number",
};
const CPU: Readonly<Record<string, Field>> = {
  quotaUs: "number",
  periodUs: "number",
  burstUs: "number",
  shares: "number",
  weight: "number",
  usageSeconds: "number",
};
const PIDS: Readonly<Record<string, Field>> = { current: "number", max: "number" };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

class Invalid extends Error {}

function part(
  raw: unknown,
  where: string,
  fields: Readonly<Record<string, Field>>,
  versioned: boolean,
): Record<string, unknown> | null {
  if (raw === undefined || raw === null) return null;
  if (!isRecord(raw)) throw new Invalid(`${where} must be an object or null, got ${JSON.stringify(raw)}`);
  const out: Record<string, unknown> = { ...raw };
  if (versioned && raw["version"] !== 1 && raw["version"] !== 2)
    throw new Invalid(`${where}.version must be 1 or 2, got ${JSON.stringify(raw["version"])}`);
  for (const [k, type] of Object.entries(fields)) {
    const v = raw[k];
    if (v === undefined || v === null) out[k] = null;
    else if (type === "number" ? typeof v !== "number" || !Number.isFinite(v) : typeof v !== "boolean")
      throw new Invalid(`${where}.${k} must be a ${type} or null, got ${JSON.stringify(v)}`);
  }
  return out;
}

/** `where` names the snapshot in the reason ("snapshot", "s.json: docker/a"). `cgroup` fills a missing path. */
export function checkSnapshot(raw: unknown, where: string, cgroup: string): SnapshotCheck {
  try {
    if (!isRecord(raw))
      throw new Invalid(`${where} must be a JSON object (a cgroup snapshot), got ${JSON.stringify(raw)}`);
    const path = raw["path"] ?? cgroup;
    if (typeof path !== "string")
      throw new Invalid(`${where}.path must be a string, got ${JSON.stringify(raw["path"])}`);
    const labels = raw["labels"] ?? {};
    if (!isRecord(labels) || Object.values(labels).some((v) => typeof v !== "string"))
      throw new Invalid(`${where}.labels must be an object of strings`);
    // An object with none of a snapshot's keys is not a snapshot (e.g. a map of cgroup → snapshot handed as one).
    if (!["path", "labels", "memory", "cpu", "pids"].some((k) => k in raw))
      throw new Invalid(`${where} has none of a snapshot's keys (path, labels, memory, cpu, pids)`);
    const snapshot = {
      ...raw,
      path,
      labels,
      memory: part(raw["memory"], `${where}.memory`, MEMORY, true),
      cpu: part(raw["cpu"], `${where}.cpu`, CPU, true),
      pids: part(raw["pids"], `${where}.pids`, PIDS, false),
    } as unknown as CgroupSnapshot;
    return { kind: "ok", snapshot };
  } catch (e) {
    if (e instanceof Invalid) return { kind: "invalid", reason: e.message };
    throw e;
  }
}
