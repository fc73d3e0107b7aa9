/**
 * A realistic watched-cgroup population for the metrics benchmark and the
 * scale tests: kubelet-style 118-character paths
 * (`kubepods/burstable/pod<uuid>/<64 hex>`), cgroup v1 memory + cpu with a
 * limit, memsw, swappiness, a CPU quota, pids and one block device, the way
 * a Docker/Kubernetes host on v1 looks. Values are deterministic.
 */
import type { CgroupSnapshot } from "../src/cgroup/snapshot.js";
import type { Metrics } from "../src/metrics/metrics.js";

function hex(n: number, len: number): string {
  let out = "";
  let x = (n * 2654435761) >>> 0;
  while (out.length < len) {
    x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x9e3779b9) >>> 0;
    out += x.toString(16).padStart(8, "0");
  }
  return out.slice(0, len);
}

export function cgroupPath(i: number): string {
  const h = hex(i + 1, 32);
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  return `kubepods/burstable/pod${uuid}/${hex(i + 7919, 64)}`;
}

export function snapshotFor(i: number): CgroupSnapshot {
  const limit = (256 + (i % 16) * 64) * 1024 * 1024;
  return {
    path: cgroupPath(i),
    labels: {},
    memory: {
      version: 1,
      usageBytes: Math.floor(limit * 0.6) + i,
      limitBytes: limit,
      swapLimitBytes: limit * 2,
      reservationBytes: null,
      highBytes: null,
      swappiness: 60,
      oomKillDisable: false,
      underOom: false,
      oomKills: i % 97 === 0 ? 1 : 0,
    },
    cpu: {
      version: 1,
      quotaUs: 50_000,
      periodUs: 100_000,
      burstUs: 0,
      shares: 512,
      weight: null,
      usageSeconds: 1234.5 + i,
    },
    pids: { current: 10 + (i % 50), max: 4096 },
  };
}

/** Adds `n` cgroups with every per-cgroup family a v1 container has. */
export function populate(metrics: Metrics, n: number): string[] {
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const cg = cgroupPath(i);
    paths.push(cg);
    metrics.addCgroup(cg, { origin: "startup", memory: 1, cpu: 1, pids: true });
    metrics.setCgroupState(cg, snapshotFor(i), { kernelMemoryBytes: 4_000_000 + i, cpusetCpus: 2 });
    metrics.setMemoryEventCounters(cg, { oom_kill: i % 97 === 0 ? 1 : 0, failcnt: i % 13 });
    metrics.setUnderOom(cg, false);
    metrics.setCpuCounters(cg, {
      periods: 100_000 + i,
      throttledPeriods: i % 1000,
      throttledSeconds: (i % 1000) * 0.01,
    });
    metrics.setPidsEventCounters(cg, { max: 0 });
    metrics.setIoCounters(cg, [
      { device: "8:0", readBytes: 1e6 + i, writeBytes: 2e6 + i, readOps: 100 + i, writeOps: 200 + i },
    ]);
  }
  return paths;
}
