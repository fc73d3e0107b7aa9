import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  parseBlkioLines,
  parseCpuMax,
  parseCpuStat,
  flatKeyedValue,
  parseDuration,
  parseFlatKeyed,
  parseInteger,
  parseIoLimitsV1,
  parseIoMax,
  parseIoStat,
  parseLimit,
  parseMemoryEvents,
  parseOomControl,
  parsePidsEvents,
  parsePsi,
  parseSize,
  parseTimeCounter,
  timeCounter,
  type MemoryEventCounters,
} from "../../src/cgroup/parse.js";

const fixture = (p: string): string => fs.readFileSync(path.join(import.meta.dirname, "../fixtures/kernel", p), "utf8");

describe("parsers on captured kernel text", () => {
  it("v1 memory.oom_control after a real OOM kill", () => {
    expect(parseOomControl(fixture("v1/memory.oom_control.killed"))).toEqual({
      kind: "ok",
      value: { oomKillDisable: false, underOom: false, oomKill: 1 },
    });
  });
  it("v1 cpu.stat after real throttling: ns normalised to seconds", () => {
    const r = parseCpuStat(fixture("v1/cpu.stat.throttled"));
    expect(r).toEqual({
      kind: "ok",
      value: { periods: 16, throttledPeriods: 15, throttledSeconds: 1.196463028, usageSeconds: null },
    });
  });
  it("v1 unlimited memory limit is null", () => {
    expect(parseLimit(fixture("v1/memory.limit_in_bytes"))).toEqual({ kind: "ok", value: null });
    expect(parseLimit(fixture("v1/memory.soft_limit_in_bytes"))).toEqual({ kind: "ok", value: null });
  });
  it("v1 memory.stat is flat-keyed with no bad lines", () => {
    const r = parseFlatKeyed(fixture("v1/memory.stat"));
    expect(r.badLines).toEqual([]);
    // "unlimited" (near 2^63) is no exact count: kept aside, not in values.
    expect(r.unsafe.get("hierarchical_memory_limit")).toBe("9223372036854771712");
    expect(r.values.has("rss")).toBe(true);
  });
  it("v2 memory.events after an OOM kill", () => {
    expect(parseMemoryEvents(fixture("v2/memory.events.oom"))).toEqual({
      kind: "ok",
      value: { low: 0, high: 0, max: 35, oom: 1, oom_kill: 1, oom_group_kill: 0 },
    });
  });
  it("v2 PSI with some and full lines", () => {
    const r = parsePsi(fixture("v2/cpu.pressure"));
    expect(r.kind).toBe("ok");
    if (r.kind === "ok") {
      expect(r.value.some).toEqual({ avg10: 25.13, avg60: 6.02, avg300: 1.33, totalUs: 3975102 });
      expect(r.value.full?.totalUs).toBe(0);
    }
  });
  it("v2 cpu.max", () => {
    expect(parseCpuMax(fixture("v2/cpu.max"))).toEqual({ kind: "ok", value: { quotaUs: 20000, periodUs: 100000 } });
    expect(parseCpuMax("max 100000\n")).toEqual({ kind: "ok", value: { quotaUs: null, periodUs: 100000 } });
  });
});

describe("malformed input", () => {
  it("empty files are malformed with a reason, never a zero", () => {
    expect(parseMemoryEvents("")).toEqual({ kind: "malformed", reason: "empty file" });
    expect(parseOomControl("")).toEqual({ kind: "malformed", reason: "empty file" });
    expect(parsePsi("")).toEqual({ kind: "malformed", reason: "empty file" });
    expect(parseLimit("")).toEqual({ kind: "malformed", reason: "empty file" });
    expect(parseCpuStat("").kind).toBe("malformed");
  });
  it("a truncated memory.events (cut mid-file) is malformed, not a partial read", () => {
    const r = parseMemoryEvents("low 0\nhigh 0\nmax 3");
    expect(r.kind).toBe("malformed");
    if (r.kind === "malformed") expect(r.reason).toContain("oom");
  });
  it("flatKeyedValue reads the one key as the map would, on arbitrary lines (repeats, bad lines, 2^53, odd whitespace)", () => {
    expect(flatKeyedValue(fixture("v1/memory.stat"), "cache")).toBe(
      parseFlatKeyed(fixture("v1/memory.stat")).values.get("cache"),
    );
    const token = fc.constantFrom(
      "oom_kill",
      "oom_killx",
      "max",
      "0",
      "12",
      "007",
      "9007199254740992",
      "-1",
      "1.5",
      " ",
      "\t",
      "\r",
      "\n",
      "\u00a0",
      "",
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 14 }), (tokens) => {
        const text = tokens.join(" ");
        expect(flatKeyedValue(text, "oom_kill")).toBe(parseFlatKeyed(text).values.get("oom_kill"));
      }),
      { numRuns: 2000 },
    );
  });
  it("a line cut mid-number is reported as a bad line", () => {
    const r = parseFlatKeyed("oom 1\noom_kill \nmax 2\n");
    expect(r.badLines).toEqual(["oom_kill "]);
    expect(r.values.get("max")).toBe(2);
  });
  it("unknown keys are kept and do not break required keys", () => {
    const r = parseMemoryEvents("low 0\nhigh 0\nmax 0\noom 0\noom_kill 2\noom_group_kill 0\nsock_throttled 7\n");
    expect(r).toEqual({ kind: "ok", value: { low: 0, high: 0, max: 0, oom: 0, oom_kill: 2, oom_group_kill: 0 } });
    expect(parseFlatKeyed("sock_throttled 7\n").values.get("sock_throttled")).toBe(7);
  });
  it("oom_group_kill absent (kernels before 5.16) reads as 0", () => {
    expect(parseMemoryEvents("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")).toMatchObject({
      kind: "ok",
      value: { oom_group_kill: 0 },
    });
  });
  it("values above 2^53 are not counts: kept aside (never in `values`), usable only as approximate time counters", () => {
    const r = parseFlatKeyed(
      "throttled_time 18446744073709551615\nnr_periods 9007199254740992\nnr_throttled 9007199254740991\n",
    );
    expect(r.values.has("throttled_time")).toBe(false);
    expect(r.values.has("nr_periods")).toBe(false);
    expect(r.values.get("nr_throttled")).toBe(Number.MAX_SAFE_INTEGER);
    expect(r.unsafe.get("nr_periods")).toBe("9007199254740992");
    expect(r.badLines).toEqual([]);
    expect(timeCounter(r, "throttled_time")).toBeGreaterThan(2 ** 63);
    expect(parseLimit("9223372036854771712")).toEqual({ kind: "ok", value: null });
    expect(parseLimit("4611686018427387904")).toEqual({ kind: "ok", value: null });
    expect(parseLimit("52428800\n")).toEqual({ kind: "ok", value: 52428800 });
  });
  it("negative counters and garbage are rejected", () => {
    expect(parseFlatKeyed("oom -1\n").badLines).toEqual(["oom -1"]);
    expect(parseLimit("12abc").kind).toBe("malformed");
    expect(parseInteger("-1000\n")).toEqual({ kind: "ok", value: -1000 });
    expect(parseInteger("x").kind).toBe("malformed");
    expect(parseCpuMax("20000").kind).toBe("malformed");
    expect(parsePsi("some avg10=abc avg60=0 avg300=0 total=0").kind).toBe("malformed");
  });
  it("v1 memory.oom_control from kernels before 4.13 has no oom_kill", () => {
    expect(parseOomControl("oom_kill_disable 1\nunder_oom 1\n")).toEqual({
      kind: "ok",
      value: { oomKillDisable: true, underOom: true, oomKill: null },
    });
  });
  it("v1 cpu quota -1 and v2 max are both unlimited", () => {
    expect(parseLimit("-1\n")).toEqual({ kind: "ok", value: null });
    expect(parseLimit("max\n")).toEqual({ kind: "ok", value: null });
  });
});

describe("counters above 2^53 (Number.MAX_SAFE_INTEGER) are malformed input", () => {
  const BIG = "18446744073709551617"; // 2^64 + 1
  it("memory.events with oom_kill = 2^64+1 is malformed, naming the key, not a huge oom_kill", () => {
    const r = parseMemoryEvents(`low 0\nhigh 0\nmax 0\noom 1\noom_kill ${BIG}\noom_group_kill 0\n`);
    expect(r).toEqual({ kind: "malformed", reason: `"oom_kill" is ${BIG}, above 2^53: not an exact counter` });
    expect(parseMemoryEvents(`low 0\nhigh 0\nmax 0\noom 1\noom_kill 0\noom_group_kill ${BIG}\n`).kind).toBe(
      "malformed",
    );
    expect(parseMemoryEvents("low 0\nhigh 0\nmax 0\noom 0\noom_kill 9007199254740991\n")).toMatchObject({
      kind: "ok",
      value: { oom_kill: Number.MAX_SAFE_INTEGER },
    });
  });
  it("every counter parser: oom_control, pids.events, cpu.stat periods, failcnt, PSI totals, io.stat, blkio", () => {
    expect(parseOomControl(`oom_kill_disable 0\nunder_oom 0\noom_kill ${BIG}\n`).kind).toBe("malformed");
    const pids = parsePidsEvents(`max ${BIG}\n`);
    expect(pids.kind === "malformed" ? pids.reason : "").toContain("above 2^53");
    expect(parsePidsEvents("max 3\n")).toEqual({ kind: "ok", value: 3 });
    expect(parseCpuStat(`nr_periods ${BIG}\nnr_throttled 1\nthrottled_time 5\n`).kind).toBe("malformed");
    expect(parseCpuStat(`nr_periods 10\nnr_throttled ${BIG}\nthrottled_time 5\n`).kind).toBe("malformed");
    expect(parseInteger(BIG).kind).toBe("malformed");
    expect(parseInteger(`-${BIG}`).kind).toBe("malformed");
    expect(parsePsi(`some avg10=0.00 avg60=0.00 avg300=0.00 total=${BIG}\n`).kind).toBe("malformed");
    expect(parseIoStat(`8:0 rbytes=${BIG} wbytes=2\n`)).toEqual([{ device: "8:0", writeBytes: 2 }]);
    expect(parseBlkioLines(`8:0 Read ${BIG}\n8:0 Write 2\n`).get("8:0")).toEqual({ Write: 2 });
    // A limit between 2^53 and the unlimited threshold (2^62) is not a real limit and not exact.
    expect(parseLimit("9007199254740993").kind).toBe("malformed");
  });
  it("time counters in ns/µs may pass 2^53 (104 days of CPU in ns) and stay usable in seconds", () => {
    const r = parseCpuStat("nr_periods 10\nnr_throttled 2\nthrottled_time 10000000000000000000\n");
    expect(r).toMatchObject({ kind: "ok", value: { periods: 10, throttledPeriods: 2 } });
    if (r.kind === "ok") expect(r.value.throttledSeconds).toBeCloseTo(1e10, 0);
    expect(parseTimeCounter("10000000000000000000\n")).toEqual({ kind: "ok", value: 1e19 });
    expect(parseTimeCounter("x").kind).toBe("malformed");
  });
  it("fuzz: whatever the value, a counter parser yields an exact safe integer or malformed, never a rounded number", () => {
    const counter = fc.oneof(
      fc.bigInt({ min: 0n, max: 2n ** 70n }),
      fc.bigInt({ min: 2n ** 53n - 3n, max: 2n ** 53n + 3n }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom<keyof MemoryEventCounters>("low", "high", "max", "oom", "oom_kill", "oom_group_kill"),
        counter,
        (key, n) => {
          const values: Record<string, bigint> = {
            low: 0n,
            high: 0n,
            max: 0n,
            oom: 0n,
            oom_kill: 0n,
            oom_group_kill: 0n,
            [key]: n,
          };
          const text = Object.entries(values)
            .map(([k, v]) => `${k} ${v}`)
            .join("\n");
          const r = parseMemoryEvents(text);
          if (n <= BigInt(Number.MAX_SAFE_INTEGER)) {
            expect(r.kind).toBe("ok");
            if (r.kind === "ok") expect(BigInt(r.value[key])).toBe(n);
          } else expect(r.kind).toBe("malformed");
          const pids = parsePidsEvents(`max ${n}\n`);
          expect(pids.kind === "ok" ? BigInt(pids.value) === n : n > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
          const oc = parseOomControl(`oom_kill_disable 0\nunder_oom 0\noom_kill ${n}\n`);
          expect(oc.kind === "ok" ? BigInt(oc.value.oomKill ?? -1) === n : n > BigInt(Number.MAX_SAFE_INTEGER)).toBe(
            true,
          );
          const cpu = parseCpuStat(`nr_periods ${n}\nnr_throttled 0\nthrottled_usec 0\n`);
          expect(cpu.kind === "ok" ? BigInt(cpu.value.periods) === n : n > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
        },
      ),
    );
  });
});

describe("Docker-style sizes and durations", () => {
  it.each([
    ["100M", 100 * 1024 ** 2],
    ["1g", 1024 ** 3],
    ["512k", 512 * 1024],
    ["1.5G", 1.5 * 1024 ** 3],
    ["100MB", 100 * 1024 ** 2],
    ["100mib", 100 * 1024 ** 2],
    ["1048576", 1048576],
    ["0", 0],
  ])("parseSize(%s)", (input, bytes) => {
    expect(parseSize(input)).toEqual({ kind: "ok", value: bytes });
  });
  it.each(["", "M", "-1M", "10 X", "1e6", "100MBB"])("parseSize rejects %j", (input) => {
    expect(parseSize(input).kind).toBe("malformed");
  });
  it.each([
    ["250ms", 250],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1500us", 1.5],
  ])("parseDuration(%s)", (input, ms) => {
    expect(parseDuration(input)).toEqual({ kind: "ok", value: ms });
  });
  it.each(["", "5", "5 parsecs", "-1s"])("parseDuration rejects %j", (input) => {
    expect(parseDuration(input).kind).toBe("malformed");
  });
});

describe("parser properties", () => {
  const key = fc.stringMatching(/^[a-z_]{1,20}$/);
  it("flat-keyed round-trip: any map of keys to counters parses back exactly", () => {
    fc.assert(
      fc.property(fc.dictionary(key, fc.nat()), (dict) => {
        const text = Object.entries(dict)
          .map(([k, v]) => `${k} ${v}`)
          .join("\n");
        const r = parseFlatKeyed(`${text}\n`);
        expect(r.badLines).toEqual([]);
        expect(Object.fromEntries(r.values)).toEqual(dict);
      }),
    );
  });
  it("no input makes a parser throw", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        for (const parse of [
          parseFlatKeyed,
          parseMemoryEvents,
          parseOomControl,
          parseCpuStat,
          parsePsi,
          parseLimit,
          parseCpuMax,
          parseInteger,
          parseSize,
          parseDuration,
          parsePidsEvents,
          parseTimeCounter,
        ]) {
          expect(() => parse(s)).not.toThrow();
        }
      }),
    );
  });
  it("parseLimit: exact up to 2^53, malformed between 2^53 and 2^62, unlimited (null) from 2^62", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n }), (n) => {
        const r = parseLimit(n.toString());
        if (n <= BigInt(Number.MAX_SAFE_INTEGER)) expect(r).toEqual({ kind: "ok", value: Number(n) });
        else if (n >= 2n ** 62n) expect(r).toEqual({ kind: "ok", value: null });
        else expect(r.kind).toBe("malformed");
      }),
    );
  });
  it("sizes: integer bytes with each unit scale by 1024 powers", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 100000 }),
        fc.constantFrom(["k", 1024], ["m", 1024 ** 2], ["g", 1024 ** 3]),
        (n, [u, scale]) => {
          expect(parseSize(`${n}${u}`)).toEqual({ kind: "ok", value: n * scale });
          expect(parseSize(`${n}${u.toUpperCase()}`)).toEqual({ kind: "ok", value: n * scale });
        },
      ),
    );
  });
});

describe("block I/O counters", () => {
  it("v2 io.stat: one entry per device, keys mapped, unknown keys ignored", () => {
    const text =
      "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:0 rbytes=10 wbytes=20 rios=3 wios=4 dbytes=5 dios=6 cost.usage=7\n";
    expect(parseIoStat(text)).toEqual([
      { device: "8:0", readBytes: 4096, writeBytes: 8192, readOps: 1, writeOps: 2, discardBytes: 0, discardOps: 0 },
      { device: "253:0", readBytes: 10, writeBytes: 20, readOps: 3, writeOps: 4, discardBytes: 5, discardOps: 6 },
    ]);
    expect(parseIoStat("")).toEqual([]);
    expect(parseIoStat("garbage line\n")).toEqual([]);
  });
  it("v1 blkio.throttle.io_service_bytes: per device and op, Total lines kept by op name", () => {
    const text = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n";
    const parsed = parseBlkioLines(text);
    expect([...parsed.keys()]).toEqual(["8:0"]);
    expect(parsed.get("8:0")).toMatchObject({ Read: 4096, Write: 8192, Total: 12288 });
  });
  it("v1 blkio.throttle.*_device: one file per kind merged by device; empty files are no limits", () => {
    expect(
      parseIoLimitsV1({
        readBps: "254:0 2097152\n",
        writeBps: "254:0 1048576\n8:16 512\n",
        readIops: "254:0 100\n",
        writeIops: "",
      }),
    ).toEqual([
      { device: "254:0", readBps: 2097152, writeBps: 1048576, readIops: 100 },
      { device: "8:16", writeBps: 512 },
    ]);
    expect(parseIoLimitsV1({ readBps: null, writeBps: "", readIops: null, writeIops: "junk\n" })).toEqual([]);
  });
  it("v2 io.max: max is no limit; a device line with only max is left out", () => {
    expect(
      parseIoMax("8:0 rbps=1048576 wbps=max riops=max wiops=100\n8:16 rbps=max wbps=max riops=max wiops=max\n"),
    ).toEqual([{ device: "8:0", readBps: 1048576, writeIops: 100 }]);
    expect(parseIoMax("")).toEqual([]);
  });
});
