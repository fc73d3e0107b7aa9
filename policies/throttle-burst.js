/**
 * throttle-burst: give a CPU-throttled cgroup more quota while it needs it,
 * and hand it back when it stops (koordinator's CPU burst, in spirit).
 *
 * On `cpu_throttled` with `ratio >= ratioThreshold` for `consecutive` intervals
 * in a row, raises the CFS quota by `factor`, capped at `maxFactor` x the
 * original quota and at `ceilingCores` cores. The original quota is kept in
 * `ctx.state`. When no throttling was seen for `calmSeconds` (a `sample`, or a
 * `cpu_throttled` below the threshold), it decays the quota back by
 * `decayPercent` of the extra per `calmSeconds`, down to the original.
 * Cgroups without a quota are left alone. A quota changed by someone else
 * while not raised becomes the new original.
 *
 * Params: ratioThreshold 0.2, consecutive 3, factor 1.5, maxFactor 4,
 *         ceilingCores 8, calmSeconds 60, decayPercent 50.
 */

/** @type {import("./cgwatch-policy").PolicyMeta} */
export const meta = {
  name: "throttle-burst",
  description: "raise CPU quota on sustained throttling, up to a ceiling; decay back when calm",
  on: ["cpu_throttled", "sample"],
  match: ["**"],
  // Samples only decay a raised quota: a cgroup without a quota is never sampled into this policy.
  sampleOnly: ["cpu_quota"],
  cooldown: "10s",
  params: {
    ratioThreshold: 0.2,
    consecutive: 3,
    factor: 1.5,
    maxFactor: 4,
    ceilingCores: 8,
    calmSeconds: 60,
    decayPercent: 50,
  },
};

/** @type {import("./cgwatch-policy").OnEvent} */
export function onEvent(event, cgroup, ctx) {
  const cpu = cgroup.cpu;
  if (!cpu || cpu.quotaUs === null || cpu.periodUs === null) return [];
  const p = ctx.params;
  const s = ctx.state;
  const quota = cpu.quotaUs;
  const period = cpu.periodUs;

  // Learn (or re-learn after an outside change) the quota we must return to.
  if (
    s.orig === undefined ||
    (s.raisedTo === undefined && quota !== s.orig) ||
    (s.raisedTo !== undefined && quota !== s.raisedTo)
  ) {
    s.orig = quota;
    delete s.raisedTo;
    s.streak = 0;
  }

  const throttled = event.kind === "cpu_throttled" && event.ratio >= p.ratioThreshold;
  if (throttled) {
    // Consecutive means no gap longer than two intervals between throttled readings.
    const gapOk =
      s.lastThrottledAt !== undefined && event.at - s.lastThrottledAt <= 2000 * Math.max(1, event.intervalSeconds);
    s.streak = gapOk ? (s.streak || 0) + 1 : 1;
    s.lastThrottledAt = event.at;
    if (s.streak < p.consecutive) return [];
    const cap = Math.min(s.orig * p.maxFactor, p.ceilingCores * period);
    const next = Math.min(cap, Math.round(quota * p.factor));
    s.streak = 0;
    if (next <= quota) {
      ctx.log("warn", "throttled at the ceiling", { quota, cap });
      return [];
    }
    s.raisedTo = next;
    s.lastChangeAt = event.at;
    ctx.log("info", "burst: raising CPU quota", { from: quota, to: next, ratio: event.ratio });
    return [{ kind: "set_cpu_quota", quotaUs: next, periodUs: period }];
  }

  if (event.kind === "cpu_throttled") s.streak = 0;
  if (s.raisedTo === undefined) return [];
  const calmMs = p.calmSeconds * 1000;
  const lastHot = Math.max(s.lastThrottledAt ?? -Infinity, s.lastChangeAt ?? -Infinity);
  if (event.at - lastHot < calmMs) return [];
  const extra = quota - s.orig;
  let next = Math.round(quota - (extra * p.decayPercent) / 100);
  if (next - s.orig < 0.05 * s.orig) next = s.orig; // close enough: finish the decay
  s.lastChangeAt = event.at;
  if (next === s.orig) delete s.raisedTo;
  else s.raisedTo = next;
  ctx.log("info", "calm: decaying CPU quota", { from: quota, to: next, original: s.orig });
  return [{ kind: "set_cpu_quota", quotaUs: next, periodUs: period }];
}
