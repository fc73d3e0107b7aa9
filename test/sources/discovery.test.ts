/**
 * Discovery on a plain directory tree: a reload's new patterns (refilter$)
 * adopt what now matches as pre-existing (`existed`), so its counters are
 * read as history, while a directory made afterwards is a new cgroup.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Subject } from "rxjs";
import { afterEach, expect, it } from "vitest";
import { discoverCgroups, type DiscoveryChange, type DiscoveryFilter } from "../../src/sources/discovery.js";
import { waitFor } from "../helpers/cliRun.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

it("a reload's rescan marks what it adds as existing; a later mkdir is not", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `cgwatch-discovery-${process.pid}-`));
  cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const d of ["app1", "other"]) fs.mkdirSync(path.join(root, d));
  const refilter = new Subject<DiscoveryFilter>();
  const seen: DiscoveryChange[] = [];
  const sub = discoverCgroups({ roots: [root], patterns: ["app*"], refilter$: refilter, persistent: false }).subscribe(
    (c) => seen.push(c),
  );
  cleanups.push(() => sub.unsubscribe());
  expect(seen).toEqual([
    expect.objectContaining({ kind: "added", cgroup: "app1", existed: true }),
    expect.objectContaining({ kind: "scanned" }),
  ]);

  refilter.next({ patterns: ["app*", "other"] });
  expect(seen.at(-1)).toMatchObject({ kind: "added", cgroup: "other", existed: true });

  fs.mkdirSync(path.join(root, "app2"));
  await waitFor(() => seen.some((c) => c.kind === "added" && c.cgroup === "app2"), "app2 discovered", 10_000);
  expect(seen.find((c) => c.kind === "added" && c.cgroup === "app2")).toMatchObject({ existed: false });
});
