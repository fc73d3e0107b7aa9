/**
 * The value ranges of action fields, declared once. Both validators read
 * them: the policy host's shape check (policy/validate.ts) and the last
 * check before the kernel (actions/validate.ts). They disagreed when each
 * kept its own numbers (set_io_weight was 1..10000 in one, 10..1000 in the
 * other), so a policy could pass one and be refused by the other.
 */
export interface IntRange {
  readonly min: number;
  readonly max: number;
}

export const ACTION_LIMITS = {
  /** Bytes: 0..1 PiB, or "max". Larger is a policy bug, not a host. */
  bytes: { min: 0, max: 2 ** 50 },
  swappiness: { min: 0, max: 100 },
  oomScoreAdj: { min: -1000, max: 1000 },
  /** sched-bwc: the kernel refuses quotas under 1 ms and periods outside 1 ms..1 s. */
  cpuQuotaUs: { min: 1000, max: 1e12 },
  cpuPeriodUs: { min: 1000, max: 1_000_000 },
  cpuBurstUs: { min: 0, max: 1e12 },
  /** runc's bounds for cpu.shares (MinShares=2, MaxShares=262144). */
  cpuShares: { min: 2, max: 262_144 },
  pidsMax: { min: 0, max: 2 ** 31 },
  /** docker --blkio-weight's range; v2 gets runc's conversion to io.weight 1..10000. */
  ioWeight: { min: 10, max: 1000 },
  iops: { min: 0, max: 1e12 },
  annotateMessageChars: { min: 1, max: 1000 },
} as const satisfies Record<string, IntRange>;
