/**
 * Sandboxes compiled by `cgwatch run`'s preflight, handed to the engine's
 * first load so that a start compiles each policy once (a compile is a
 * fresh WebAssembly instance plus the module's top level: the slowest part
 * of a start with many policies).
 *
 * A sandbox is adopted only for the same file, the same source text and the
 * same limits it was compiled with (the limits are baked into the instance
 * and its prelude); anything else (a file edited between the preflight and
 * the load) is compiled again, as before. Ownership is single: a claimed
 * sandbox belongs to the registry, and `release` disposes every unclaimed
 * one exactly once (idempotent), so none leaks whether the daemon starts,
 * fails before its policies step, or never runs.
 */
import type { PolicySource } from "./load.js";
import type { PolicySandbox } from "./sandbox.js";
import type { PolicyLimits, PolicyMeta } from "./types.js";

/** A compiled policy ready to run: what `compilePolicy` returns when it succeeds. */
export interface ReadySandbox {
  readonly kind: "ok";
  readonly sandbox: PolicySandbox;
  readonly meta: PolicyMeta;
}

interface Kept {
  readonly source: string;
  readonly compiled: ReadySandbox;
}

export class PrecompiledPolicies {
  private readonly byFile = new Map<string, Kept>();
  private released = false;

  constructor(private readonly limits: PolicyLimits) {}

  /** Keeps a sandbox compiled from `src` under this set's limits (disposed at once if the set is already released). */
  add(src: PolicySource, compiled: ReadySandbox): void {
    if (this.released || this.byFile.has(src.file)) {
      compiled.sandbox.dispose();
      return;
    }
    this.byFile.set(src.file, { source: src.source, compiled });
  }

  /** The sandbox compiled from exactly this source under these limits, handed over once; null: compile it. */
  claim(src: PolicySource, limits: PolicyLimits): ReadySandbox | null {
    const kept = this.byFile.get(src.file);
    if (kept === undefined || kept.source !== src.source || !sameLimits(this.limits, limits)) return null;
    this.byFile.delete(src.file);
    return kept.compiled;
  }

  /** How many sandboxes wait to be claimed. */
  get size(): number {
    return this.byFile.size;
  }

  /** Disposes every unclaimed sandbox; later adds are disposed at once and claims find nothing. */
  release(): void {
    this.released = true;
    for (const kept of this.byFile.values()) kept.compiled.sandbox.dispose();
    this.byFile.clear();
  }
}

function sameLimits(a: PolicyLimits, b: PolicyLimits): boolean {
  const keys = Object.keys(a) as (keyof PolicyLimits)[];
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
