/**
 * Pairs each oom_kill event with its victims and writes its one log line.
 * The policy-facing event gets the victim at once when the kernel's report
 * is already read (it usually is); the line waits for a report that trails
 * the counter (at most the forensics' waitMs), and lines stay in event order.
 */
import type { MemoryCounterEvent, OomVictim } from "../events/types.js";
import type { OomForensics } from "./forensics.js";

export interface OomReporter {
  /** The event with its victim when known now; its line is written now or once the report is read. */
  attach(event: MemoryCounterEvent): MemoryCounterEvent;
}

export function createOomReporter(
  forensics: OomForensics | null,
  line: (event: MemoryCounterEvent, victims: readonly OomVictim[]) => void,
): OomReporter {
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  const reportNow = (): boolean => forensics === null || !forensics.available;
  return {
    attach(oom) {
      const count = Math.max(1, oom.counter.after - oom.counter.before);
      const victims = forensics?.claim(oom.cgroup, count) ?? [];
      const last = victims.at(-1);
      const event = last === undefined ? oom : { ...oom, victim: last };
      if (pending === 0 && (victims.length > 0 || reportNow())) {
        line(event, victims);
        return event;
      }
      pending++;
      chain = chain.then(
        () =>
          new Promise<void>((done) => {
            const finish = (v: readonly OomVictim[]): void => {
              pending--;
              line(event, v);
              done();
            };
            if (victims.length > 0 || forensics === null || reportNow()) finish(victims);
            else forensics.claimSoon(oom.cgroup, count, finish);
          }),
      );
      return event;
    },
  };
}
