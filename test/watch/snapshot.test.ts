/**
 * readSnapshot on the event path reuses a cgroup's located paths across
 * events: what it reuses must be only paths, never values.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { v2LayoutAt } from "../../src/cgroup/layout.js";
import { createFileReader } from "../../src/cgroup/read.js";
import { readSnapshot } from "../../src/watch/snapshot.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tree(cgroups: readonly string[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-snapshot-"));
  dirs.push(root);
  for (const c of cgroups) {
    fs.mkdirSync(path.join(root, c), { recursive: true });
    fs.writeFileSync(path.join(root, c, "memory.max"), "1048576\n");
    fs.writeFileSync(path.join(root, c, "memory.current"), "4096\n");
  }
  return root;
}

describe("readSnapshot (cached reads)", () => {
  it("a second snapshot of the same cgroup reads the files again", () => {
    const root = tree(["a"]);
    const layout = v2LayoutAt(root);
    const reader = createFileReader();
    expect(readSnapshot(layout, reader, "a").memory?.limitBytes).toBe(1048576);
    fs.writeFileSync(path.join(root, "a", "memory.max"), "max\n");
    expect(readSnapshot(layout, reader, "a").memory?.limitBytes).toBeNull();
  });
  it("each cgroup reads its own files, past the number of cgroups whose paths are kept, and another layout its own tree", () => {
    const names = Array.from({ length: 300 }, (_, i) => `c${i}`);
    const root = tree(names);
    const layout = v2LayoutAt(root);
    const reader = createFileReader({ maxOpen: 16 });
    names.forEach((c, i) => fs.writeFileSync(path.join(root, c, "memory.max"), `${(i + 1) * 4096}\n`));
    for (let round = 0; round < 2; round++) {
      names.forEach((c, i) => expect(readSnapshot(layout, reader, c).memory?.limitBytes).toBe((i + 1) * 4096));
    }
    const other = tree(["c0"]);
    fs.writeFileSync(path.join(other, "c0", "memory.max"), "8192\n");
    expect(readSnapshot(v2LayoutAt(other), reader, "c0").memory?.limitBytes).toBe(8192);
  });
});
