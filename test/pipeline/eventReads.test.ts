/**
 * Each file read once per event decision: within `during`, a second read is
 * served from the first (the file may have changed on disk: the memory does
 * not look); cgwatch's own write drops the file written and every
 * non-setting; outside `during` nothing is served.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createFileReader } from "../../src/cgroup/read.js";
import { createEventReads, settingFiles } from "../../src/pipeline/eventReads.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function cgroupDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-eventreads-"));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, "memory.max"), "1000\n");
  fs.writeFileSync(path.join(dir, "memory.current"), "10\n");
  fs.writeFileSync(path.join(dir, "memory.oom_control"), "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n");
  return dir;
}

const textOf = (r: { kind: string; text?: string }): string | null => (r.kind === "ok" ? (r.text ?? null) : null);

describe("event reads", () => {
  it("serves a setting read earlier in the same decision, to the reader and the action edge alike", () => {
    const dir = cgroupDir();
    const reads = createEventReads();
    const reader = reads.over(createFileReader(64));
    const max = path.join(dir, "memory.max");
    const seen = reads.during(() => {
      const first = textOf(reader.readOnce(max));
      fs.writeFileSync(max, "2000\n"); // another writer: this decision keeps what it read
      return [first, textOf(reader.read(max)), textOf(reads.readAt(max))];
    });
    expect(seen).toEqual(["1000\n", "1000\n", "1000\n"]);
    // The next decision (and any read outside one) reads the file.
    expect(textOf(reader.readOnce(max))).toBe("2000\n");
    expect(reads.during(() => textOf(reads.readAt(max)))).toBe("2000\n");
  });

  it("after cgwatch writes, reads the written file, usage, counters and state afresh, and serves the other settings", () => {
    const dir = cgroupDir();
    fs.writeFileSync(path.join(dir, "memory.high"), "900\n");
    const reads = createEventReads();
    const reader = reads.over(createFileReader(64));
    const [max, high, current, oom] = ["memory.max", "memory.high", "memory.current", "memory.oom_control"].map((f) =>
      path.join(dir, f),
    ) as [string, string, string, string];
    const seen = reads.during(() => {
      for (const p of [max, high, current, oom]) reader.readOnce(p);
      fs.writeFileSync(current, "20\n"); // the kernel moves usage and state by itself
      fs.writeFileSync(oom, "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n");
      fs.writeFileSync(high, "800\n"); // another writer
      // Before cgwatch writes, the decision sees one instant: what the policy read, the guardrails check.
      const instant = [textOf(reads.readAt(current)), textOf(reader.read(oom))];
      fs.writeFileSync(max, "500\n");
      reads.written(max);
      return [
        ...instant,
        textOf(reads.readAt(max)),
        textOf(reader.readOnce(current)),
        textOf(reader.read(oom)),
        textOf(reader.readOnce(high)),
      ];
    });
    expect(seen).toEqual([
      "10\n",
      "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n",
      "500\n",
      "20\n",
      "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n",
      "900\n",
    ]);
    expect(settingFiles().has("memory.oom_control")).toBe(false);
    expect(settingFiles().has("memory.current")).toBe(false);
    expect(settingFiles().has("memory.high")).toBe(true);
  });

  it("drops a setting cgwatch writes, whatever the spelling of its directory: the read-back sees the kernel's value", () => {
    const dir = cgroupDir();
    const reads = createEventReads();
    const reader = reads.over(createFileReader(64));
    const max = path.join(dir, "memory.max");
    const seen = reads.during(() => {
      const before = textOf(reader.readOnce(max));
      fs.writeFileSync(max, "4096\n");
      reads.written(`${dir}/./memory.max`);
      return [before, textOf(reads.readAt(max)), textOf(reader.readOnce(max))];
    });
    expect(seen).toEqual(["1000\n", "4096\n", "4096\n"]);
  });

  it("forgets everything when the decision throws", () => {
    const dir = cgroupDir();
    const reads = createEventReads();
    const max = path.join(dir, "memory.max");
    expect(() =>
      reads.during(() => {
        reads.readAt(max);
        throw new Error("a bug in a stage");
      }),
    ).toThrow("a bug in a stage");
    fs.writeFileSync(max, "3000\n");
    expect(reads.during(() => textOf(reads.readAt(max)))).toBe("3000\n");
  });
});
