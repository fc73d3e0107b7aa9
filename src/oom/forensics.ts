/**
 * OOM victim attribution: the kernel's OOM reports from /dev/kmsg, held for
 * a while and handed to the `oom_kill` events they belong to. The kernel
 * prints the report around the moment it counts the kill, so a victim is
 * usually there when the event is handled (`claim`), else within
 * milliseconds (`claimSoon` polls for up to `waitMs`).
 *
 * Without /dev/kmsg (no permission, a container without it) `onUnavailable`
 * is called once and every claim is empty: the events go on without victims.
 */
import { createOomAssembler, victimIn, type OomVictim } from "./kmsg.js";
import { openKmsg, type KmsgOpen, type KmsgReader } from "./kmsgReader.js";

export interface OomForensicsOptions {
  readonly open?: () => KmsgOpen;
  /** How often /dev/kmsg is drained between events (keeps the ring from overrunning us). */
  readonly pollMs?: number;
  /** How long `claimSoon` waits for a report that is not there yet. */
  readonly waitMs?: number;
  /** Victims older than this are dropped unclaimed (ms). */
  readonly keepMs?: number;
  readonly persistent?: boolean;
  readonly now?: () => number;
  readonly onUnavailable?: (reason: string) => void;
}

export interface OomForensics {
  readonly available: boolean;
  /** Up to `max` victims counted in `cgroup` that no earlier event of this cgroup claimed, oldest first. */
  claim(cgroup: string, max: number): OomVictim[];
  /** `claim`, re-tried until something is found or `waitMs` passed; the callback runs exactly once. */
  claimSoon(cgroup: string, max: number, done: (victims: OomVictim[]) => void): void;
  close(): void;
}

interface Held {
  readonly victim: OomVictim;
  readonly at: number;
  /** cgroups whose events already carry this victim (an ancestor's event may carry it too). */
  readonly claimedBy: Set<string>;
}

const MAX_HELD = 256;

export function createOomForensics(options: OomForensicsOptions = {}): OomForensics {
  const now = options.now ?? (() => performance.now());
  const opened = (options.open ?? (() => openKmsg()))();
  const keepMs = options.keepMs ?? 5 * 60_000;
  const waitMs = options.waitMs ?? 1000;
  let reader: KmsgReader | null = opened.kind === "ok" ? opened.reader : null;
  if (opened.kind === "unavailable") options.onUnavailable?.(opened.reason);
  const assemble = createOomAssembler();
  const held: Held[] = [];
  const timers = new Set<NodeJS.Timeout>();
  /** claimSoon callbacks not called yet: close() calls them empty, so each runs exactly once. */
  const waiting = new Set<(victims: OomVictim[]) => void>();

  const drain = (): void => {
    if (reader === null) return;
    try {
      for (const rec of reader.read()) {
        const v = assemble(rec.message, rec.usec);
        if (v !== null) held.push({ victim: v, at: now(), claimedBy: new Set() });
      }
    } catch (e) {
      reader.close();
      reader = null;
      options.onUnavailable?.(`/dev/kmsg read failed: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const cutoff = now() - keepMs;
    while (held.length > 0 && ((held[0]?.at ?? 0) < cutoff || held.length > MAX_HELD)) held.shift();
  };

  const claim = (cgroup: string, max: number): OomVictim[] => {
    drain();
    const out: OomVictim[] = [];
    for (const h of held) {
      if (out.length >= max) break;
      if (h.claimedBy.has(cgroup) || !victimIn(h.victim, cgroup)) continue;
      h.claimedBy.add(cgroup);
      out.push(h.victim);
    }
    return out;
  };

  const poll = reader === null ? null : setInterval(drain, options.pollMs ?? 250);
  if (poll !== null && !(options.persistent ?? true)) poll.unref();

  return {
    available: reader !== null,
    claim,
    claimSoon(cgroup, max, done) {
      const first = claim(cgroup, max);
      if (first.length > 0 || reader === null) {
        done(first);
        return;
      }
      const deadline = now() + waitMs;
      waiting.add(done);
      const step = (): void => {
        const found = claim(cgroup, max);
        if (found.length > 0 || now() >= deadline || reader === null) {
          waiting.delete(done);
          done(found);
          return;
        }
        const t = setTimeout(() => {
          timers.delete(t);
          step();
        }, 20);
        if (!(options.persistent ?? true)) t.unref();
        timers.add(t);
      };
      step();
    },
    close() {
      if (poll !== null) clearInterval(poll);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      reader?.close();
      reader = null;
      for (const done of [...waiting]) {
        waiting.delete(done);
        done([]);
      }
    },
  };
}
