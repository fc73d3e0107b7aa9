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

/*
 * A class with a Set made on the first problem: one per watched cgroup, and
 * almost none ever has a problem (10,000 closures and empty Sets otherwise).
 */
class Problems implements TrackerProblems {
  /** Files with a reported problem: only those are cleared (once) by a good parse. */
  private troubled: Set<string> | null = null;

  /** The hooks themselves, not the object that carried them (a tracker's options, one per cgroup). */
  private readonly onProblem: ProblemHooks["onProblem"];
  private readonly onProblemCleared: ProblemHooks["onProblemCleared"];

  constructor(
    private readonly cgroup: string,
    hooks: ProblemHooks,
  ) {
    this.onProblem = hooks.onProblem;
    this.onProblemCleared = hooks.onProblemCleared;
  }

  report(file: string, reason: string): void {
    (this.troubled ??= new Set()).add(file);
    this.onProblem?.({ cgroup: this.cgroup, file, reason });
  }

  parsedCleanly(file: string): void {
    if (this.troubled !== null && this.troubled.size > 0 && this.troubled.delete(file))
      this.onProblemCleared?.({ cgroup: this.cgroup, file });
  }

  clearAll(): void {
    if (this.troubled === null) return;
    for (const file of this.troubled) this.onProblemCleared?.({ cgroup: this.cgroup, file });
    this.troubled = null;
  }
}

export function trackerProblems(cgroup: string, hooks: ProblemHooks): TrackerProblems {
  return new Problems(cgroup, hooks);
}
