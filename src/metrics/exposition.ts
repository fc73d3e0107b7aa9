/**
 * Prometheus text exposition format 0.0.4, the pure parts: escaping and
 * number formatting. Kept apart from the store so the renderer and the
 * tests share one definition of "correct" text.
 */

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label values escape backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  // Fast path: cgroup paths almost never need escaping, and this runs once per series.
  if (!/[\\"\n]/.test(value)) return value;
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** HELP text escapes backslash and newline only. */
export function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Go's strconv.ParseFloat accepts JS's shortest round-trip form (e.g. "1e+21"); only the specials differ. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** `{a="x",b="y"}`, or "" without labels. Names are ours (validated at definition), values are escaped. */
export function labelString(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return "";
  let out = "{";
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ",";
    out += `${names[i]}="${escapeLabelValue(values[i] ?? "")}"`;
  }
  return `${out}}`;
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidMetricName(name: string): boolean {
  return NAME_RE.test(name);
}

export function isValidLabelName(name: string): boolean {
  return LABEL_RE.test(name) && !name.startsWith("__");
}
