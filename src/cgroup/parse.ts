/**
 * Pure parsers for cgroup control files, tested on captured kernel text.
 * They take the file's text and never touch the filesystem. Files differ by
 * kernel version and patch set, so keyed files are parsed by key and
 * unknown keys are kept; a malformed line is reported, never guessed at.
 */

export type Parsed<T> =
  { readonly kind: "ok"; readonly value: T } | { readonly kind: "malformed"; readonly reason: string };

const ok = <T>(value: T): Parsed<T> => ({ kind: "ok", value });
const malformed = <T>(reason: string): Parsed<T> => ({ kind: "malformed", reason });

/**
 * v1 "unlimited" is PAGE_COUNTER_MAX pages, printed as 9223372036854771712
 * on 4 KiB-page x86_64 (other page sizes print other values near 2^63).
 * Anything at or above 2^62 is no limit any sane host could enforce.
 */
const UNLIMITED_THRESHOLD = 2 ** 62;

const DIGITS = /^\d+$/;

/**
 * A non-negative integer as a JS number, or null when it is not one or lies
 * above 2^53 (Number.MAX_SAFE_INTEGER): there a double can no longer hold
 * every integer, so a counter would be exported rounded and diffed into a
 * wrong delta (2^64+1 in memory.events became a huge oom_kill delta). No
 * kernel event counter gets there; such a value is malformed input.
 */
export function safeCount(token: string): number | null {
  if (!DIGITS.test(token)) return null;
  const n = Number(token);
  return Number.isSafeInteger(n) ? n : null;
}

const parseCount = safeCount;

export interface FlatKeyed {
  /** Keys whose value is a non-negative integer up to 2^53. */
  readonly values: ReadonlyMap<string, number>;
  /**
   * Keys whose value is an integer above 2^53, as the digits read: not a
   * count (see safeCount); time counters may still be used approximately
   * (timeCounter).
   */
  readonly unsafe: ReadonlyMap<string, string>;
  /** Lines that were not "key <non-negative integer>", kept so callers can log them. */
  readonly badLines: readonly string[];
}

/** Why a required key is missing or unusable, for malformed reasons. */
function missing(parsed: FlatKeyed, key: string, text: string): string {
  const big = parsed.unsafe.get(key);
  if (big !== undefined)
    return `"${key}" is ${big.length > 30 ? `${big.slice(0, 30)}…` : big}, above 2^53: not an exact counter`;
  if (text.trim() === "") return "empty file";
  const hint = parsed.badLines.length > 0 ? `; unparsable line ${JSON.stringify(parsed.badLines[0])}` : "";
  return `missing key "${key}"${hint}`;
}

/**
 * A time counter (ns or µs: cpu.stat throttled_time/throttled_usec/
 * usage_usec, cpuacct.usage) in its own unit, precise or not: 2^53 ns is only
 * 104 days of CPU time (a few days for a busy many-core cgroup), and once
 * converted to seconds a double's rounding stays below a microsecond. Counts
 * (events, periods) never go through here.
 */
export function timeCounter(parsed: FlatKeyed, key: string): number | undefined {
  const v = parsed.values.get(key);
  if (v !== undefined) return v;
  const big = parsed.unsafe.get(key);
  return big === undefined ? undefined : Number(big);
}

/** Whether a UTF-16 unit is whitespace as JS's \s and String.prototype.trim see it. */
function isSpace(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

const skipSpace = (text: string, i: number, end: number): number => {
  while (i < end && isSpace(text.charCodeAt(i))) i++;
  return i;
};
const skipWord = (text: string, i: number, end: number): number => {
  while (i < end && !isSpace(text.charCodeAt(i))) i++;
  return i;
};

/** text[from, to) as safeCount reads it, without a substring: the count, NOT_DIGITS, or ABOVE_2_53 (digits only, but not exact). */
const NOT_DIGITS = -1;
const ABOVE_2_53 = -2;
function countIn(text: string, from: number, to: number): number {
  if (from === to) return NOT_DIGITS;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NOT_DIGITS;
    n = n * 10 + d; // exact while it stays a safe integer; beyond, only "too big" matters
  }
  return Number.isSafeInteger(n) ? n : ABOVE_2_53;
}

/** One line text[start, end) of a flat-keyed file into `into`, as parseFlatKeyed describes. */
function flatLine(
  text: string,
  start: number,
  end: number,
  into: { values: Map<string, number>; unsafe: Map<string, string>; badLines: string[] },
): void {
  let b = end;
  while (b > start && isSpace(text.charCodeAt(b - 1))) b--;
  const a = skipSpace(text, start, b);
  if (a === b) return;
  const keyEnd = skipWord(text, a, b);
  const t = skipSpace(text, keyEnd, b);
  const e = skipWord(text, t, b);
  // Exactly two fields: "key" alone, or a third field, is a bad line.
  const n = t === b || e !== b ? NOT_DIGITS : countIn(text, t, e);
  if (n >= 0) into.values.set(text.slice(a, keyEnd), n);
  else if (n === ABOVE_2_53) into.unsafe.set(text.slice(a, keyEnd), text.slice(t, e));
  else into.badLines.push(text.slice(start, end));
}

/**
 * Flat-keyed files: memory.events, memory.stat, cpu.stat, pids.events,
 * cgroup.events, v1 memory.oom_control. "key value" per line. Scanned in
 * place (no per-line arrays or substrings but the keys): this runs for
 * several files on every event.
 */
export function parseFlatKeyed(text: string): FlatKeyed {
  const out = { values: new Map<string, number>(), unsafe: new Map<string, string>(), badLines: [] as string[] };
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    flatLine(text, start, end, out);
    start = end + 1;
  }
  return out;
}

/**
 * parseFlatKeyed(text).values.get(key) without building the maps: for a
 * caller that wants one counter of the file (the snapshot's oom_kill).
 */
export function flatKeyedValue(text: string, key: string): number | undefined {
  let found: number | undefined;
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    let b = end;
    while (b > start && isSpace(text.charCodeAt(b - 1))) b--;
    const a = skipSpace(text, start, b);
    const keyEnd = skipWord(text, a, b);
    if (keyEnd - a === key.length && text.startsWith(key, a)) {
      const t = skipSpace(text, keyEnd, b);
      const e = skipWord(text, t, b);
      const n = t === b || e !== b ? NOT_DIGITS : countIn(text, t, e);
      if (n >= 0) found = n; // the last line with a count wins, as in the map
    }
    start = end + 1;
  }
  return found;
}

/** Keyed counters where a set of keys is required (e.g. memory.events must have oom_kill). */
export function parseRequiredKeys<K extends string>(
  text: string,
  keys: readonly K[],
  optional: readonly K[] = [],
): Parsed<Record<K, number>> {
  const parsed = parseFlatKeyed(text);
  const out = {} as Record<K, number>;
  for (const k of keys) {
    const v = parsed.values.get(k);
    if (v === undefined) return malformed(missing(parsed, k, text));
    out[k] = v;
  }
  for (const k of optional) {
    if (parsed.unsafe.has(k)) return malformed(missing(parsed, k, text));
    out[k] = parsed.values.get(k) ?? 0;
  }
  return ok(out);
}

export const MEMORY_EVENT_KEYS = ["low", "high", "max", "oom", "oom_kill"] as const;
export type MemoryEventCounters = Record<(typeof MEMORY_EVENT_KEYS)[number] | "oom_group_kill", number>;

/** v2 memory.events. `oom_group_kill` appeared in 5.16: absent means 0. */
export function parseMemoryEvents(text: string): Parsed<MemoryEventCounters> {
  return parseRequiredKeys(text, MEMORY_EVENT_KEYS, ["oom_group_kill"]);
}

/** pids.events (v1 and v2): the `max` counter. */
export function parsePidsEvents(text: string): Parsed<number> {
  const r = parseRequiredKeys(text, ["max"]);
  return r.kind === "ok" ? ok(r.value.max) : r;
}

export interface OomControl {
  readonly oomKillDisable: boolean;
  readonly underOom: boolean;
  /** `oom_kill` appeared in 4.13; null when the kernel does not report it. */
  readonly oomKill: number | null;
}

/** v1 memory.oom_control. */
export function parseOomControl(text: string): Parsed<OomControl> {
  const parsed = parseFlatKeyed(text);
  const { values } = parsed;
  const disable = values.get("oom_kill_disable");
  const under = values.get("under_oom");
  if (disable === undefined || under === undefined)
    return malformed(text.trim() === "" ? "empty file" : "missing oom_kill_disable or under_oom");
  if (parsed.unsafe.has("oom_kill")) return malformed(missing(parsed, "oom_kill", text));
  return ok({ oomKillDisable: disable !== 0, underOom: under !== 0, oomKill: values.get("oom_kill") ?? null });
}

export interface CpuStat {
  readonly periods: number;
  readonly throttledPeriods: number;
  /** Normalised to seconds from v1 ns (throttled_time) or v2 µs (throttled_usec). */
  readonly throttledSeconds: number;
  /** v2 usage_usec in seconds, null on v1 (usage is in cpuacct.usage there). */
  readonly usageSeconds: number | null;
}

const PERIOD_KEYS = ["nr_periods", "nr_throttled"] as const;

/** cpu.stat for v1 (nr_periods nr_throttled throttled_time[ns]) or v2 (… throttled_usec). */
export function parseCpuStat(text: string): Parsed<CpuStat> {
  const parsed = parseFlatKeyed(text);
  const { values } = parsed;
  const periods = values.get("nr_periods");
  const throttled = values.get("nr_throttled");
  const ns = timeCounter(parsed, "throttled_time");
  const us = timeCounter(parsed, "throttled_usec");
  // Period counts are diffed into throttling ratios: above 2^53 they are malformed, not rounded.
  for (const k of PERIOD_KEYS) if (parsed.unsafe.has(k)) return malformed(missing(parsed, k, text));
  if (periods === undefined || throttled === undefined) {
    // v2 without the cpu controller enabled has only usage_usec & co.
    const usage = timeCounter(parsed, "usage_usec");
    if (usage !== undefined && periods === undefined)
      return ok({ periods: 0, throttledPeriods: 0, throttledSeconds: 0, usageSeconds: usage / 1e6 });
    return malformed(text.trim() === "" ? "empty file" : "missing nr_periods or nr_throttled");
  }
  const throttledSeconds = us !== undefined ? us / 1e6 : ns !== undefined ? ns / 1e9 : 0;
  const usage = timeCounter(parsed, "usage_usec");
  return ok({
    periods,
    throttledPeriods: throttled,
    throttledSeconds,
    usageSeconds: usage === undefined ? null : usage / 1e6,
  });
}

/** cpu.stat's counters as far as the file has them exactly (metrics mirror each alone): counts above 2^53 are left out, times may be approximate (timeCounter). */
export interface CpuStatCounters {
  readonly periods?: number;
  readonly throttledPeriods?: number;
  /** Seconds, from v2 throttled_usec or v1 throttled_time (ns). */
  readonly throttledSeconds?: number;
}

/** cpu.stat (v1 or v2) as the counters it carries; never malformed, a missing key is just absent. */
export function parseCpuStatCounters(text: string): Parsed<CpuStatCounters> {
  const parsed = parseFlatKeyed(text);
  const periods = parsed.values.get("nr_periods");
  const throttled = parsed.values.get("nr_throttled");
  const us = timeCounter(parsed, "throttled_usec");
  const ns = timeCounter(parsed, "throttled_time");
  return ok({
    ...(periods === undefined ? {} : { periods }),
    ...(throttled === undefined ? {} : { throttledPeriods: throttled }),
    ...(us !== undefined ? { throttledSeconds: us / 1e6 } : ns !== undefined ? { throttledSeconds: ns / 1e9 } : {}),
  });
}

export interface PsiLine {
  readonly avg10: number;
  readonly avg60: number;
  readonly avg300: number;
  /** Total stall time in microseconds. */
  readonly totalUs: number;
}

export interface Psi {
  readonly some: PsiLine;
  /** cpu.pressure has no "full" line before 5.13 (and it reads zero at the system level). */
  readonly full: PsiLine | null;
}

const PSI_NUMBER = /^\d+(\.\d+)?$/;

/** A PSI field's value, or null when it is missing or not a plain decimal. */
function psiNumber(v: string | undefined, isTotal: boolean): number | null {
  if (v === undefined || !PSI_NUMBER.test(v)) return null;
  const n = Number(v);
  // total= is a µs count (2^53 µs is 285 years): beyond it, malformed.
  return isTotal && !Number.isSafeInteger(n) ? null : n;
}

const keyIs = (text: string, at: number, len: number, key: string): boolean =>
  len === key.length && text.startsWith(key, at);

/** The "key=value" fields of text[from, to); the last of a repeated key wins, other keys are ignored. */
function parsePsiLine(text: string, from: number, to: number): PsiLine | null {
  let avg10: string | undefined, avg60: string | undefined, avg300: string | undefined, total: string | undefined;
  for (let s = skipSpace(text, from, to); s < to; s = skipSpace(text, s, to)) {
    const e = skipWord(text, s, to);
    const eq = text.indexOf("=", s);
    const keyLen = eq - s;
    if (eq > s && eq < e) {
      if (keyIs(text, s, keyLen, "avg10")) avg10 = text.slice(eq + 1, e);
      else if (keyIs(text, s, keyLen, "avg60")) avg60 = text.slice(eq + 1, e);
      else if (keyIs(text, s, keyLen, "avg300")) avg300 = text.slice(eq + 1, e);
      else if (keyIs(text, s, keyLen, "total")) total = text.slice(eq + 1, e);
    }
    s = e;
  }
  const a10 = psiNumber(avg10, false);
  const a60 = psiNumber(avg60, false);
  const a300 = psiNumber(avg300, false);
  const t = psiNumber(total, true);
  if (a10 === null || a60 === null || a300 === null || t === null) return null;
  return { avg10: a10, avg60: a60, avg300: a300, totalUs: t };
}

/** PSI files: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and an optional "full ..." line. */
export function parsePsi(text: string): Parsed<Psi> {
  let some: PsiLine | null = null;
  let full: PsiLine | null = null;
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
    const a = skipSpace(text, start, end);
    if (text.startsWith("some ", a) && a + 5 <= end) some = parsePsiLine(text, a + 5, end);
    else if (text.startsWith("full ", a) && a + 5 <= end) full = parsePsiLine(text, a + 5, end);
    const nl = text.indexOf("\n", start);
    start = nl < 0 ? text.length + 1 : nl + 1;
  }
  if (some === null) return malformed(text.trim() === "" ? "empty file" : 'no valid "some" line');
  return ok({ some, full });
}

/**
 * A limit value: v2 "max", v1 "-1" (cpu quota) or v1's near-2^63 unlimited
 * memory value → null (no limit); otherwise a non-negative integer.
 */
export function parseLimit(text: string): Parsed<number | null> {
  const t = text.trim();
  if (t === "max" || t === "-1") return ok(null);
  if (!DIGITS.test(t)) return malformed(t === "" ? "empty file" : `not a limit: ${JSON.stringify(t.slice(0, 40))}`);
  const n = Number(t);
  if (n >= UNLIMITED_THRESHOLD) return ok(null);
  // Between 2^53 and 2^62: not exactly representable, and no real limit either.
  if (!Number.isSafeInteger(n)) return malformed(`limit ${t} is above 2^53 and below the unlimited value`);
  return ok(n);
}

/** A single integer file (memory.usage_in_bytes, memory.current, pids.current, cpu.shares, memory.swappiness ...). Negative allowed (oom_score_adj). */
export function parseInteger(text: string): Parsed<number> {
  const t = text.trim();
  if (!/^-?\d+$/.test(t))
    return malformed(t === "" ? "empty file" : `not an integer: ${JSON.stringify(t.slice(0, 40))}`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) return malformed(`${t.slice(0, 30)} is beyond ±2^53: not an exact integer`);
  return ok(n);
}

/** A single time counter file in its own unit (v1 cpuacct.usage, ns), precise or not: see timeCounter. */
export function parseTimeCounter(text: string): Parsed<number> {
  const t = text.trim();
  if (!DIGITS.test(t)) return malformed(t === "" ? "empty file" : `not a counter: ${JSON.stringify(t.slice(0, 40))}`);
  return ok(Number(t));
}

/** v2 cpu.max: "max 100000" or "20000 100000". */
export function parseCpuMax(text: string): Parsed<{ quotaUs: number | null; periodUs: number }> {
  const [q, p, ...rest] = text.trim().split(/\s+/);
  if (q === undefined || p === undefined || rest.length > 0)
    return malformed(`not "quota period": ${JSON.stringify(text.trim().slice(0, 40))}`);
  const period = parseCount(p);
  const quota = q === "max" ? null : parseCount(q);
  if (period === null || (q !== "max" && quota === null))
    return malformed(`not "quota period": ${JSON.stringify(text.trim().slice(0, 40))}`);
  return ok({ quotaUs: quota, periodUs: period });
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * Docker-style sizes, binary units as `docker run -m` reads them:
 * "100M", "1g", "512k", "1.5G", "100MB", "100mib", plain bytes "1048576".
 */
export function parseSize(input: string | number): Parsed<number> {
  if (typeof input === "number") {
    return Number.isSafeInteger(input) && input >= 0
      ? ok(input)
      : malformed(`size must be a non-negative integer number of bytes, got ${input}`);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(input);
  if (m === null) return malformed(`not a size: ${JSON.stringify(input)} (use bytes or a unit: 512k, 100M, 2g)`);
  const unit = SIZE_UNITS[(m[2] ?? "").toLowerCase()] ?? 1;
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) return malformed(`size too large: ${JSON.stringify(input)}`);
  return ok(bytes);
}

const DURATION_UNITS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Durations in milliseconds: "250ms", "30s", "5m", "1h", "1500us", or a number of milliseconds. */
export function parseDuration(input: string | number): Parsed<number> {
  if (typeof input === "number")
    return Number.isFinite(input) && input >= 0 ? ok(input) : malformed(`duration must be >= 0 ms, got ${input}`);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)\s*$/.exec(input);
  if (m === null) return malformed(`not a duration: ${JSON.stringify(input)} (use 250ms, 30s, 5m, 1h)`);
  return ok(Number(m[1]) * (DURATION_UNITS[m[2] ?? "ms"] ?? 1));
}

/** One block device's absolute counters from v2 io.stat. */
export interface IoStatDevice {
  /** "major:minor". */
  readonly device: string;
  readonly readBytes?: number;
  readonly writeBytes?: number;
  readonly readOps?: number;
  readonly writeOps?: number;
  readonly discardBytes?: number;
  readonly discardOps?: number;
}

/** v1 blkio.throttle.io_service_bytes / io_serviced: "8:0 Read 4096" lines. */
export function parseBlkioLines(text: string): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const line of text.split("\n")) {
    const [dev, op, value] = line.trim().split(/\s+/);
    const n = value === undefined ? null : parseCount(value);
    if (dev === undefined || op === undefined || n === null || !/^\d+:\d+$/.test(dev)) continue;
    const rec = out.get(dev) ?? {};
    rec[op] = n;
    out.set(dev, rec);
  }
  return out;
}

/** v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0". */
export function parseIoStat(text: string): IoStatDevice[] {
  const out: IoStatDevice[] = [];
  for (const line of text.split("\n")) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    if (dev === undefined || !/^\d+:\d+$/.test(dev)) continue;
    const f: Record<string, number> = {};
    for (const kv of kvs) {
      const [k, v] = kv.split("=");
      const n = v === undefined ? null : parseCount(v);
      if (k !== undefined && n !== null) f[k] = n;
    }
    out.push({
      device: dev,
      ...(f["rbytes"] === undefined ? {} : { readBytes: f["rbytes"] }),
      ...(f["wbytes"] === undefined ? {} : { writeBytes: f["wbytes"] }),
      ...(f["rios"] === undefined ? {} : { readOps: f["rios"] }),
      ...(f["wios"] === undefined ? {} : { writeOps: f["wios"] }),
      ...(f["dbytes"] === undefined ? {} : { discardBytes: f["dbytes"] }),
      ...(f["dios"] === undefined ? {} : { discardOps: f["dios"] }),
    });
  }
  return out;
}

/** A device's I/O throttles (docker --device-read-bps and friends); absent = no limit. */
export interface IoLimitDevice {
  /** "major:minor". */
  readonly device: string;
  readonly readBps?: number;
  readonly writeBps?: number;
  readonly readIops?: number;
  readonly writeIops?: number;
}

/** v1 blkio.throttle.{read,write}_{bps,iops}_device, one file per kind: "254:0 1048576" lines. */
export function parseIoLimitsV1(files: {
  readonly readBps: string | null;
  readonly writeBps: string | null;
  readonly readIops: string | null;
  readonly writeIops: string | null;
}): IoLimitDevice[] {
  const byDevice = new Map<string, Record<string, number>>();
  for (const [key, text] of Object.entries(files)) {
    for (const line of (text ?? "").split("\n")) {
      const [dev, value] = line.trim().split(/\s+/);
      if (dev === undefined || value === undefined || !/^\d+:\d+$/.test(dev) || !/^\d+$/.test(value)) continue;
      byDevice.set(dev, { ...(byDevice.get(dev) ?? {}), [key]: Number(value) });
    }
  }
  return [...byDevice].map(([device, limits]) => ({ device, ...limits }));
}

/** v2 io.max: "8:0 rbps=1048576 wbps=max riops=max wiops=100"; "max" is no limit. */
export function parseIoMax(text: string): IoLimitDevice[] {
  const keys: Readonly<Record<string, keyof Omit<IoLimitDevice, "device">>> = {
    rbps: "readBps",
    wbps: "writeBps",
    riops: "readIops",
    wiops: "writeIops",
  };
  const out: IoLimitDevice[] = [];
  for (const line of text.split("\n")) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    if (dev === undefined || !/^\d+:\d+$/.test(dev)) continue;
    const limits: Record<string, number> = {};
    for (const kv of kvs) {
      const [k, v] = kv.split("=");
      const key = k === undefined ? undefined : keys[k];
      if (key !== undefined && v !== undefined && /^\d+$/.test(v)) limits[key] = Number(v);
    }
    if (Object.keys(limits).length > 0) out.push({ device: dev, ...limits });
  }
  return out;
}
