/**
 * The policy engine's only filesystem edge: listing policy directories and
 * reading sources. Everything after this works on `{ file, source }` pairs,
 * so the engine core and its tests never need a directory.
 */
import fs from "node:fs";
import path from "node:path";
import { compileError } from "./sandbox.js";
import type { PolicyCompileError } from "./types.js";

export interface PolicySource {
  readonly file: string;
  readonly source: string;
}

/** Largest policy source accepted; a policy is a few kilobytes of JavaScript. */
export const MAX_SOURCE_BYTES = 1024 * 1024;

export function isPolicyFile(name: string): boolean {
  return name.endsWith(".js") && !name.startsWith(".");
}

/** Every `*.js` directly in the given directories (not recursive), plus explicit files; sorted, absolute. */
export function listPolicyFiles(
  dirs: readonly string[],
  files: readonly string[] = [],
): { files: string[]; errors: PolicyCompileError[] } {
  const out = new Set<string>();
  const errors: PolicyCompileError[] = [];
  for (const dir of dirs) {
    try {
      for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
        if (ent.isFile() && isPolicyFile(ent.name)) out.add(path.resolve(dir, ent.name));
      }
    } catch (e) {
      errors.push(
        compileError(
          path.resolve(dir),
          `cannot list policy directory: ${e instanceof Error ? e.message : String(e)}`,
          null,
        ),
      );
    }
  }
  for (const f of files) out.add(path.resolve(f));
  return { files: [...out].sort(), errors };
}

export function readPolicySource(
  file: string,
): { kind: "ok"; source: PolicySource } | { kind: "error"; error: PolicyCompileError } {
  try {
    const st = fs.statSync(file);
    if (st.size > MAX_SOURCE_BYTES)
      return {
        kind: "error",
        error: compileError(file, `policy file is ${st.size} bytes, larger than ${MAX_SOURCE_BYTES}`, null),
      };
    return { kind: "ok", source: { file, source: fs.readFileSync(file, "utf8") } };
  } catch (e) {
    return {
      kind: "error",
      error: compileError(file, `cannot read policy: ${e instanceof Error ? e.message : String(e)}`, null),
    };
  }
}
