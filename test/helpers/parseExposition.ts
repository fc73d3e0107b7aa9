/**
 * A strict parser for the text exposition format (0.0.4). cgwatch does not
 * need it at run time; tests and the benchmark use it to compare our
 * renderer with prom-client's sample by sample, and to rebuild a prom-client
 * registry from our series. Strict on purpose: a malformed line throws.
 */

export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedExposition {
  readonly help: ReadonlyMap<string, string>;
  readonly type: ReadonlyMap<string, string>;
  readonly samples: readonly ParsedSample[];
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(\\|n)/g, (_m, c: string) => (c === "n" ? "\n" : "\\"));
}

function parseValue(text: string, line: string): number {
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN" || text === "Nan") return NaN;
  const v = Number(text);
  if (text === "" || Number.isNaN(v)) throw new Error(`bad value in: ${line}`);
  return v;
}

/** Parses `{a="x",b="y"}` starting at `i` (at the "{"); returns the labels and the index after "}". */
export function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  while (line[i] !== "}") {
    const eq = line.indexOf("=", i);
    if (eq < 0 || line[eq + 1] !== '"') throw new Error(`bad labels in: ${line}`);
    const name = line.slice(i, eq);
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new Error(`bad label name ${name} in: ${line}`);
    let j = eq + 2;
    let value = "";
    for (;;) {
      const c = line[j];
      if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (c === '"') break;
      if (c === "\\") {
        const n = line[j + 1];
        if (n === "n") value += "\n";
        else if (n === "\\" || n === '"') value += n;
        else throw new Error(`bad escape in: ${line}`);
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
    if (name in labels) throw new Error(`duplicate label ${name} in: ${line}`);
    labels[name] = value;
    i = j + 1;
    if (line[i] === ",") i++;
    else if (line[i] !== "}") throw new Error(`expected , or } in: ${line}`);
  }
  return { labels, end: i + 1 };
}

export function parseExposition(text: string): ParsedExposition {
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: ParsedSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# HELP ")) {
      const rest = line.slice(7);
      const sp = rest.indexOf(" ");
      help.set(sp < 0 ? rest : rest.slice(0, sp), sp < 0 ? "" : unescapeHelp(rest.slice(sp + 1)));
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [name, t] = line.slice(7).split(" ");
      if (name === undefined || t === undefined) throw new Error(`bad TYPE line: ${line}`);
      type.set(name, t);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (m === null) throw new Error(`bad sample line: ${line}`);
    const name = m[0];
    let labels: Record<string, string> = {};
    let i = name.length;
    if (line[i] === "{") ({ labels, end: i } = parseLabels(line, i));
    if (line[i] !== " ") throw new Error(`expected space before value in: ${line}`);
    const parts = line.slice(i + 1).split(" ");
    samples.push({ name, labels, value: parseValue(parts[0] ?? "", line) });
  }
  return { help, type, samples };
}

/** A canonical key for a sample: name plus sorted labels. */
export function sampleKey(s: ParsedSample): string {
  const keys = Object.keys(s.labels).sort();
  return `${s.name}{${keys.map((k) => `${k}=${JSON.stringify(s.labels[k])}`).join(",")}}`;
}
