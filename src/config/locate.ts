/**
 * From a key path (as zod reports it) back to a line and column of the YAML
 * text, so that every error names the line the operator has to edit. An
 * unknown key points at the key itself; a bad value at the value; a path
 * that stops existing part-way (a missing section) at its deepest existing
 * ancestor.
 */
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from "yaml";

export interface Position {
  readonly line: number;
  readonly column: number;
}

function keyMatches(key: unknown, seg: string | number): boolean {
  const k = isScalar(key) ? key.value : key;
  return String(k) === String(seg);
}

function startOf(node: unknown): number | null {
  if (node !== null && typeof node === "object" && "range" in node) {
    const range = (node as Node).range;
    if (Array.isArray(range)) return range[0];
  }
  return null;
}

/**
 * `pointAtKey`: for an unknown key, the position of the key rather than of its value.
 */
export function locate(
  doc: Document,
  lines: LineCounter,
  path: readonly (string | number)[],
  pointAtKey = false,
): Position | null {
  let node: unknown = doc.contents;
  let best: number | null = startOf(node);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i] as string | number;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyMatches(p.key, seg));
      if (pair === undefined) break;
      const keyPos = startOf(pair.key);
      const valuePos = startOf(pair.value);
      best = last && pointAtKey ? (keyPos ?? best) : (valuePos ?? keyPos ?? best);
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      const item: unknown = node.items[seg];
      if (item === undefined) break;
      best = startOf(item) ?? best;
      node = item;
    } else {
      break;
    }
  }
  if (best === null) return null;
  const { line, col } = lines.linePos(best);
  return { line, column: col };
}
