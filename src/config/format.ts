/** Rendering of config errors for humans and for editors' problem matchers. */
import type { ConfigError } from "./types.js";

/** "path:line:col: key: message" (gcc style, so editors can jump to it); no position → "path: key: message". */
export function formatConfigError(e: ConfigError): string {
  const where =
    e.line === null ? e.file : e.column === null ? `${e.file}:${e.line}` : `${e.file}:${e.line}:${e.column}`;
  return e.key === "" ? `${where}: ${e.message}` : `${where}: ${e.key}: ${e.message}`;
}

/** "a.b[2].c" from ["a", "b", 2, "c"]. */
export function keyPathString(path: readonly (string | number | symbol)[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const s = String(seg);
      out += out === "" ? s : `.${s}`;
    }
  }
  return out;
}
