/**
 * meta.sampleOnly through the real daemon on a fake v2 tree: the pipeline asks
 * `policies.wantsEvent(kind, cgroup, facts)` with what the watcher already knows
 * (docs/policies.md), so a `sample` of a cgroup outside every sampling policy's
 * filter reads no snapshot at all, and one inside it does (and calls the policy).
 * Snapshot reads are counted on watch/snapshot.ts's readSnapshot, wrapped by the
 * test; nothing in src is changed for it. The state publisher reads snapshots
 * too (the gauges), so each read is attributed to its caller by its stack: the
 * publisher's reads of the filtered cgroup show that the count does see it.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, expect, it, vi } from "vitest";
import { fakeHost, type FakeHost } from "./helpers/fakeCgroupfs.js";
import { startHarness, until, type Harness } from "./helpers/daemonHarness.js";
import type * as Snapshot from "../src/watch/snapshot.js";
import type { WatchdogEvent } from "../src/events/types.js";

/** Every snapshot read: its cgroup and whether the pipeline's decision (pipeline/decide.ts) made it. */
const reads = vi.hoisted(() => [] as { cgroup: string; byPipeline: boolean }[]);
vi.mock("../src/watch/snapshot.js", async (importOriginal) => {
  const original = await importOriginal<typeof Snapshot>();
  return {
    ...original,
    readSnapshot: (...args: Parameters<typeof original.readSnapshot>) => {
      reads.push({
        cgroup: args[2],
        byPipeline: /[\\/]src[\\/]pipeline[\\/]decide\.[jt]s/.test(new Error().stack ?? ""),
      });
      return original.readSnapshot(...args);
    },
  };
});

/** Samples only cgroups with a CPU quota; throws (a counted failure) if shown one without. */
const QUOTA_SAMPLER = `
export const meta = { name: "quota-sampler", on: ["sample"], match: ["docker/*"], sampleOnly: ["cpu_quota"] };
export function onEvent(event, cgroup) {
  if (cgroup.cpu.quotaUs !== 50000) throw new Error("sampled " + cgroup.path);
  return [];
}
`;

const YAML = `
watch: [ "docker/*" ]
policies:
  builtin: false
  dirs: [ "$POLICY_DIR" ]
pollInterval: 100ms
safetyNetInterval: 1s
sampleInterval: 1s
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

it("a sample of a cgroup outside meta.sampleOnly reads no snapshot; one inside reads one and calls the policy", async () => {
  host = fakeHost(2);
  host.addCgroup("docker");
  host.addCgroup("docker/capped", { "cpu.max": "50000 100000\n" });
  host.addCgroup("docker/free");
  harness = await startHarness({ layout: host.layout, yaml: YAML, policies: { "quota.js": QUOTA_SAMPLER } });
  const h = harness;
  await h.daemon.ready;
  const samplesOf = (cgroup: string): number =>
    h.events.filter((e) => e.kind === "sample" && e.cgroup === cgroup).length;
  // Samples of both cgroups went through the whole pipeline (onEvent runs after the decision).
  await until(
    () => samplesOf("docker/capped") >= 2 && samplesOf("docker/free") >= 2,
    30_000,
    "two samples of each cgroup",
  );
  const pipelineReads = (cgroup: string): number => reads.filter((r) => r.byPipeline && r.cgroup === cgroup).length;
  expect(pipelineReads("docker/free")).toBe(0);
  expect(pipelineReads("docker/capped")).toBeGreaterThanOrEqual(2);
  // The count does see docker/free: the publisher reads its snapshot for the gauges.
  expect(reads.some((r) => !r.byPipeline && r.cgroup === "docker/free")).toBe(true);
  // Nothing else went through the pipeline's snapshot (the policy listens to samples only), and each read was a call.
  expect(new Set(reads.filter((r) => r.byPipeline).map((r) => r.cgroup))).toEqual(new Set(["docker/capped"]));
  const [sampler] = h.daemon.policies.policies();
  expect(sampler).toMatchObject({ name: "quota-sampler", failures: 0 });
  expect(sampler?.calls).toBe(pipelineReads("docker/capped"));
});

const PRESSURE_RELIEF = fs.readFileSync(path.join(import.meta.dirname, "../policies/pressure-relief.js"), "utf8");

it("a v2 sample without memory PSI (a kernel without it) reads no snapshot for the shipped pressure-relief; one with PSI does", async () => {
  host = fakeHost(2);
  host.addCgroup("docker");
  host.addCgroup("docker/psi");
  host.addCgroup("docker/nopsi");
  // A kernel built without PSI, or booted with psi=0, has no pressure files.
  fs.unlinkSync(host.file("docker/nopsi", "memory.pressure"));
  // No PSI triggers: on a fake tree arming one writes the trigger into the plain file it reads PSI from.
  harness = await startHarness({
    layout: host.layout,
    yaml: `${YAML}psi: { memory: "off", cpu: "off", io: "off" }\n`,
    policies: { "pressure-relief.js": PRESSURE_RELIEF },
  });
  const h = harness;
  await h.daemon.ready;
  const samples = (cgroup: string): WatchdogEvent[] =>
    h.events.filter((e) => e.kind === "sample" && e.cgroup === cgroup);
  await until(
    () => samples("docker/psi").length >= 2 && samples("docker/nopsi").length >= 2,
    30_000,
    "two samples of each cgroup",
  );
  expect(samples("docker/nopsi").every((e) => e.kind === "sample" && e.someAvg10 === undefined)).toBe(true);
  expect(samples("docker/psi").every((e) => e.kind === "sample" && e.someAvg10 === 0)).toBe(true);
  const pipelineReads = (cgroup: string): number => reads.filter((r) => r.byPipeline && r.cgroup === cgroup).length;
  expect(pipelineReads("docker/nopsi")).toBe(0);
  expect(pipelineReads("docker/psi")).toBeGreaterThanOrEqual(2);
  // Where it can act nothing changed: memory.high was max, PSI low, so the first sample tightens it.
  expect(
    h.actions.some((a) => a.proposal.cgroup === "docker/psi" && a.proposal.action.kind === "set_memory_high"),
  ).toBe(true);
  expect(h.actions.filter((a) => a.proposal.cgroup === "docker/nopsi")).toEqual([]);
});
