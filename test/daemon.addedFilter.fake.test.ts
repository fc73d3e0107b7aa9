/**
 * meta.addedOnly through the real daemon on a fake v2 tree, with the shipped
 * oom-protect-critical (it acts on `cgroup_added` only for cgroups with a
 * config label): the pipeline asks `policies.wantsEvent(kind, cgroup, facts)`
 * with the config's labels, so the `cgroup_added` of an unlabelled cgroup
 * reads no snapshot and calls no policy, at startup (10,000 of them were
 * most of the time to ready) and for a cgroup created while watched; a
 * labelled one is read, evaluated and answered as before.
 * Snapshot reads are counted on watch/snapshot.ts's readSnapshot, attributed
 * to the pipeline's decision by their stack (as in daemon.sampleFilter.fake;
 * the publisher's re-read after an applied action is the publisher's).
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, expect, it, vi } from "vitest";
import { fakeHost, type FakeHost } from "./helpers/fakeCgroupfs.js";
import { startHarness, until, type Harness } from "./helpers/daemonHarness.js";
import type * as Snapshot from "../src/watch/snapshot.js";

const reads = vi.hoisted(() => [] as { cgroup: string; byPipeline: boolean }[]);
vi.mock("../src/watch/snapshot.js", async (importOriginal) => {
  const original = await importOriginal<typeof Snapshot>();
  return {
    ...original,
    readSnapshot: (...args: Parameters<typeof original.readSnapshot>) => {
      // The gauges' refresh after an applied action runs inside the decision too: the publisher's, not a policy's input.
      const stack = new Error().stack ?? "";
      reads.push({
        cgroup: args[2],
        byPipeline:
          /[\\/]src[\\/]pipeline[\\/]decide\.[jt]s/.test(stack) && !/[\\/]src[\\/]watch[\\/]publish/.test(stack),
      });
      return original.readSnapshot(...args);
    },
  };
});

const SHIPPED = fs.readFileSync(path.join(import.meta.dirname, "../policies/oom-protect-critical.js"), "utf8");

// Samples an hour apart: the only events the policy listens to in this test are the cgroup_added.
const YAML = `
watch:
  - "docker/*"
  - { pattern: "docker/*-critical", labels: { tier: critical } }
policies:
  builtin: false
  dirs: [ "$POLICY_DIR" ]
pollInterval: 100ms
sampleInterval: 1h
`;

let host: FakeHost | null = null;
let harness: Harness | null = null;
afterEach(async () => {
  await harness?.stop();
  harness = null;
  host?.cleanup();
  host = null;
  reads.length = 0;
});

it("cgroup_added of an unlabelled cgroup reads no snapshot and calls no policy; a labelled one is answered as before", async () => {
  host = fakeHost(2);
  host.addCgroup("docker");
  host.addCgroup("docker/db-critical");
  host.addCgroup("docker/web");
  host.addCgroup("docker/batch");
  harness = await startHarness({ layout: host.layout, yaml: YAML, policies: { "oom-protect-critical.js": SHIPPED } });
  const h = harness;
  await h.daemon.ready;
  // Created while watched: the same filter for a cgroup that appears later.
  host.addCgroup("docker/late");
  host.addCgroup("docker/late-critical");
  const added = (cgroup: string): boolean => h.events.some((e) => e.kind === "cgroup_added" && e.cgroup === cgroup);
  await until(() => added("docker/late") && added("docker/late-critical"), 30_000, "both late cgroups added");
  const pipelineReads = (cgroup: string): number => reads.filter((r) => r.byPipeline && r.cgroup === cgroup).length;
  for (const plain of ["docker/web", "docker/batch", "docker/late"]) expect(pipelineReads(plain), plain).toBe(0);
  for (const critical of ["docker/db-critical", "docker/late-critical"])
    expect(pipelineReads(critical), critical).toBe(1);
  // The count does see unlabelled cgroups: the publisher reads their snapshots for the gauges.
  await until(() => reads.some((r) => !r.byPipeline && r.cgroup === "docker/web"), 30_000, "a publisher read");
  const [policy] = h.daemon.policies.policies();
  expect(policy).toMatchObject({ name: "oom-protect-critical", failures: 0, calls: 2 });
  // What the policy decides for the cgroups it concerns is unchanged.
  expect(h.actions.map((a) => [a.proposal.cgroup, a.proposal.action]).sort()).toEqual([
    ["docker/db-critical", { kind: "set_oom_score_adj", value: -900 }],
    ["docker/late-critical", { kind: "set_oom_score_adj", value: -900 }],
  ]);
});
