/**
 * The read-only view of a cgroup a policy receives with each event. Every
 * field is optional in spirit (null when the file is absent on this kernel
 * or controller), because files differ by kernel version and patch set.
 * Byte and microsecond values are numbers; "max"/unlimited is null.
 */
import type { CgroupVersion } from "./layout.js";

export interface MemorySnapshot {
  readonly version: CgroupVersion;
  readonly usageBytes: number | null;
  /** memory.limit_in_bytes / memory.max; null = unlimited. */
  readonly limitBytes: number | null;
  /** v1 memsw limit (memory+swap); v2 memory.swap.max (swap only). null = unlimited. */
  readonly swapLimitBytes: number | null;
  /** soft limit (v1) / memory.low (v2); null = unlimited / none. */
  readonly reservationBytes: number | null;
  /** memory.high (v2); null = max or v1. */
  readonly highBytes: number | null;
  /** v1 only. */
  readonly swappiness: number | null;
  readonly oomKillDisable: boolean | null;
  readonly underOom: boolean | null;
  readonly oomKills: number | null;
}

export interface CpuSnapshot {
  readonly version: CgroupVersion;
  /** null = no quota. */
  readonly quotaUs: number | null;
  readonly periodUs: number | null;
  readonly burstUs: number | null;
  /** v1 cpu.shares, or the v2 cpu.weight converted back to shares. */
  readonly shares: number | null;
  readonly weight: number | null;
  readonly usageSeconds: number | null;
}

export interface PidsSnapshot {
  readonly current: number | null;
  readonly max: number | null;
}

/**
 * Who the cgroup is (src/identity/): its container engine and, when the
 * engine's metadata was readable, the container's name, image and labels,
 * and for Kubernetes its pod. null when the path names no engine.
 */
export interface ContainerSnapshot {
  readonly engine: "docker" | "podman" | "containerd" | "cri-o" | "systemd";
  /** Container id (64 hex), or the systemd unit name. */
  readonly id: string;
  readonly name: string | null;
  readonly image: string | null;
  readonly pod: string | null;
  readonly namespace: string | null;
  readonly labels: Readonly<Record<string, string>>;
}

export interface CgroupSnapshot {
  /** Path relative to the hierarchy root. */
  readonly path: string;
  readonly container?: ContainerSnapshot | null;
  /** Free-form labels from the config (e.g. { tier: "critical" }). */
  readonly labels: Readonly<Record<string, string>>;
  readonly memory: MemorySnapshot | null;
  readonly cpu: CpuSnapshot | null;
  readonly pids: PidsSnapshot | null;
}
