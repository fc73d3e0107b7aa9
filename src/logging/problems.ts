/**
 * File problems (a malformed control file, a FIFO or symlink where a control
 * file belongs, a replaced inode, a refused write) are states, not events:
 * the same malformed file is re-read on every notification and every sweep,
 * and a line per re-read floods the log (up to 50 a minute per file). Here
 * each problem is logged once when it starts and once when it clears, and
 * its starts are counted per (file, reason) for a metric.
 *
 * A problem is keyed by (op, path, reason); one path can have several at
 * once (e.g. a read-side type problem cleared by the reader, a parse
 * problem cleared by the tracker), so clearing takes the reasons it owns.
 */
import path from "node:path";
import type { Logger } from "pino";

export type ProblemOp = "read" | "write";

export interface FileProblem {
  readonly op: ProblemOp;
  /** Absolute path, or "cgroup/file" where only that is known. */
  readonly path: string;
  readonly reason: string;
  readonly message: string;
  readonly cgroup?: string;
}

export interface ProblemLog {
  /** Logs (warn) and counts the problem if it is not already active. */
  report(problem: FileProblem): void;
  /** Ends the path's active problems whose reason `owns` accepts (all by default), logging (info) each once. */
  clear(op: ProblemOp, path: string, owns?: (reason: string) => boolean): void;
  /** Active problems, for tests and status. */
  active(): FileProblem[];
}

export interface ProblemLogOptions {
  readonly logger: Logger;
  /** Called once per problem start with the file's base name and the reason (the metric). */
  readonly count?: (op: ProblemOp, file: string, reason: string) => void;
}

export function createProblemLog(options: ProblemLogOptions): ProblemLog {
  /** op\0path → reason → the problem as first reported. */
  const byPath = new Map<string, Map<string, FileProblem>>();
  const keyOf = (op: ProblemOp, p: string): string => `${op}\0${p}`;
  const fields = (p: FileProblem): Record<string, string> => ({
    op: p.op,
    path: p.path,
    file: path.basename(p.path),
    reason: p.reason,
    ...(p.cgroup === undefined ? {} : { cgroup: p.cgroup }),
  });
  return {
    report(problem) {
      const key = keyOf(problem.op, problem.path);
      let reasons = byPath.get(key);
      if (reasons?.has(problem.reason) === true) return;
      if (reasons === undefined) {
        reasons = new Map();
        byPath.set(key, reasons);
      }
      reasons.set(problem.reason, problem);
      options.count?.(problem.op, path.basename(problem.path), problem.reason);
      options.logger.warn(fields(problem), `${problem.op} problem started: ${problem.message}`);
    },
    clear(op, p, owns = () => true) {
      const key = keyOf(op, p);
      const reasons = byPath.get(key);
      if (reasons === undefined) return;
      for (const [reason, problem] of reasons) {
        if (!owns(reason)) continue;
        reasons.delete(reason);
        options.logger.info(fields(problem), `${op} problem cleared (was: ${problem.message})`);
      }
      if (reasons.size === 0) byPath.delete(key);
    },
    active: () => [...byPath.values()].flatMap((m) => [...m.values()]),
  };
}
