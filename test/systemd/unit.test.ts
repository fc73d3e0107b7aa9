/**
 * The shipped systemd units must load cleanly (`systemd-analyze verify`) and
 * stay better hardened than systemd-oomd's own unit (exposure 2.0 on Debian
 * 12). verify checks that ExecStart's binary exists, and cgwatch is not
 * installed on a build machine, so the units are verified as a copy whose
 * ExecStart points at this node binary; everything else is verbatim. The
 * installed units are verified as installed by test/package/install.test.ts.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "../..");
const serviceFile = path.join(repo, "systemd/cgwatch.service");
const socketFile = path.join(repo, "systemd/cgwatch.socket");
const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
if (analyze.error !== undefined) {
  throw new Error("systemd-analyze is not installed: run scripts/deps/systemd-analyze.sh (apt package `systemd`)");
}

/** Parses "→ Overall exposure level for x.service: 1.2 OK" into 1.2. */
function parseExposure(output: string): number | null {
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(output);
  return m?.[1] === undefined ? null : Number(m[1]);
}

function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("[")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

let tmp = "";
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-unit-"));
  const unit = fs.readFileSync(serviceFile, "utf8").replace(/^ExecStart=cgwatch /m, `ExecStart=${process.execPath} `);
  fs.writeFileSync(path.join(tmp, "cgwatch.service"), unit);
  fs.copyFileSync(socketFile, path.join(tmp, "cgwatch.socket"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("systemd/cgwatch.service", () => {
  it("passes systemd-analyze verify with no warning at all", () => {
    const r = spawnSync(
      "systemd-analyze",
      ["verify", path.join(tmp, "cgwatch.service"), path.join(tmp, "cgwatch.socket")],
      { encoding: "utf8" },
    );
    // verify exits 0 on unknown keys and only prints "Unknown key ..., ignoring": any output is a defect.
    expect(r.stderr + r.stdout).toBe("");
    expect(r.status).toBe(0);
  });

  it("the copy differs from the shipped unit only in ExecStart's binary", () => {
    const r = spawnSync("systemd-analyze", ["verify", serviceFile], { encoding: "utf8" });
    const complaints = r.stderr.split("\n").filter((l) => l.trim() !== "");
    expect(complaints.length).toBeGreaterThan(0);
    for (const c of complaints) expect(c).toMatch(/Command cgwatch is not executable/);
  });

  it("rates better than systemd-oomd (2.0) in systemd-analyze security, aiming at <= 1.5", () => {
    const r = spawnSync("systemd-analyze", ["security", "--offline=true", path.join(tmp, "cgwatch.service")], {
      encoding: "utf8",
      cwd: tmp,
    });
    const score = parseExposure(r.stdout + r.stderr);
    expect(score, r.stdout + r.stderr).not.toBeNull();
    expect(score).toBeLessThan(2.0);
    expect(score).toBeLessThanOrEqual(1.5);
  });

  it("the score parser reads systemd's line and refuses anything else", () => {
    expect(parseExposure("→ Overall exposure level for cgwatch.service: 1.2 OK 🙂")).toBe(1.2);
    expect(parseExposure("→ Overall exposure level for a.service: 9.6 UNSAFE 😨")).toBe(9.6);
    expect(parseExposure("Unit cgwatch.service not found.")).toBeNull();
  });

  it("keeps the settings the watchdog's job depends on", () => {
    const d = directives(fs.readFileSync(serviceFile, "utf8"));
    const one = (k: string): string | undefined => d.get(k)?.at(-1);
    expect(one("Type")).toBe("notify");
    expect(one("WatchdogSec")).toBe("30s");
    expect(one("NotifyAccess")).toBe("main");
    expect(one("Restart")).toBe("always");
    expect(one("OOMScoreAdjust")).toBe("-1000");
    // A bare name: systemd's fixed search path finds npm's link under /usr or /usr/local.
    expect(one("ExecStart")).toBe("cgwatch run --config /etc/cgwatch/cgwatch.yaml");
    expect(one("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    expect(d.has("MemoryMin")).toBe(true);
    expect(d.has("MemoryLow")).toBe(true);
    // The job: write cgroupfs, lower others' oom_score_adj, kill on v1.
    expect(one("ReadWritePaths")).toBe("/sys/fs/cgroup");
    expect(new Set(one("CapabilityBoundingSet")?.split(/\s+/))).toEqual(
      new Set(["CAP_DAC_OVERRIDE", "CAP_SYS_RESOURCE", "CAP_KILL"]),
    );
    expect(one("AmbientCapabilities")).toBe(one("CapabilityBoundingSet"));
    // Settings that would break it must stay off: V8/WebAssembly need W+X
    // memory, cgroupfs must be writable, other users' /proc/PID visible.
    for (const k of ["MemoryDenyWriteExecute", "ProtectControlGroups", "ProtectProc", "PrivateUsers"])
      expect(d.has(k), k).toBe(false);
    // sd_notify needs AF_UNIX; the service has no other socket family.
    expect(one("RestrictAddressFamilies")).toBe("AF_UNIX");
    expect(one("PrivateNetwork")).toBe("yes");
    expect(d.get("Requires")).toContain("cgwatch.socket");
  });

  it("the socket unit listens where the shipped config's metrics default does", () => {
    const d = directives(fs.readFileSync(socketFile, "utf8"));
    expect(d.get("ListenStream")).toEqual(["127.0.0.1:9786"]);
  });
});
