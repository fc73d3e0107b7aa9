/**
 * A tracker's file problems: a malformed file is reported once when it
 * starts and cleared once when the file parses again (or its cgroup goes).
 */
export interface TrackerProblem {
  readonly cgroup: string;
  readonly file: string;
  readonly reason: string;
}

export interface ProblemHooks {
  readonly onProblem?: (p: TrackerProblem) => void;
  readonly onProblemCleared?: (p: { readonly cgroup: string; readonly file: string }) => void;
}

export interface TrackerProblems {
  report(file: string, reason: string): void;
  /** The file parsed: a problem reported for it is cleared. */
  parsedCleanly(file: string): void;
  /** The cgroup is gone: its problems end with it. */
  clearAll(): void;
}

export function trackerProblems(cgroup: string, hooks: ProblemHooks): TrackerProblems {
  /** Files with a reported problem: only those are cleared (once) by a good parse. */
  const troubled = new Set<string>();
  return {
    report(file, reason) {
      troubled.add(file);
      hooks.onProblem?.({ cgroup, file, reason });
    },
    parsedCleanly(file) {
      if (troubled.size > 0 && troubled.delete(file)) hooks.onProblemCleared?.({ cgroup, file });
    },
    clearAll() {
      for (const file of troubled) hooks.onProblemCleared?.({ cgroup, file });
      troubled.clear();
    },
  };
}
