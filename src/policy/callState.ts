/**
 * What the host remembers between calls, per policy *name* and cgroup:
 * `ctx.state` (as JSON text) and cooldowns (the event time before which the
 * policy is not called again for that cgroup). Keyed by name, so it outlives
 * sandbox rebuilds and hot reloads of the same policy; a renamed policy
 * starts afresh (forgetPolicy).
 */
export interface CallState {
  /** ctx.state JSON of this policy for this cgroup; "{}" when none. */
  state(policy: string, cgroup: string): string;
  /** Keeps a state; null or "{}" (nothing worth keeping) drops it. */
  setState(policy: string, cgroup: string, json: string | null): void;
  /** Event time (`at`) before which the policy is not called for this cgroup; undefined = none. */
  cooldownUntil(policy: string, cgroup: string): number | undefined;
  setCooldown(policy: string, cgroup: string, until: number): void;
  clearCooldown(policy: string, cgroup: string): void;
  /** A removed cgroup: nothing of it is kept. */
  forgetCgroup(cgroup: string): void;
  forgetPolicy(policy: string): void;
}

export function createCallState(): CallState {
  const states = new Map<string, Map<string, string>>();
  const cooldowns = new Map<string, Map<string, number>>();
  const inner = <V>(m: Map<string, Map<string, V>>, policy: string): Map<string, V> => {
    let per = m.get(policy);
    if (per === undefined) m.set(policy, (per = new Map<string, V>()));
    return per;
  };
  return {
    state: (policy, cgroup) => states.get(policy)?.get(cgroup) ?? "{}",
    setState(policy, cgroup, json) {
      if (json === null || json === "{}") states.get(policy)?.delete(cgroup);
      else inner(states, policy).set(cgroup, json);
    },
    cooldownUntil: (policy, cgroup) => cooldowns.get(policy)?.get(cgroup),
    setCooldown: (policy, cgroup, until) => void inner(cooldowns, policy).set(cgroup, until),
    clearCooldown: (policy, cgroup) => void cooldowns.get(policy)?.delete(cgroup),
    forgetCgroup(cgroup) {
      for (const m of states.values()) m.delete(cgroup);
      for (const m of cooldowns.values()) m.delete(cgroup);
    },
    forgetPolicy(policy) {
      states.delete(policy);
      cooldowns.delete(policy);
    },
  };
}
