/**
 * Generates the "Event and snapshot fields" section of docs/policies.md
 * from policies/cgwatch-policy.d.ts (property names, types and their doc
 * comments), so the docs cannot drift from the types policy authors get.
 * docs-fields.test.ts compares; CGWATCH_WRITE_DOCS=1 rewrites the section.
 */
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

export const REPO = path.resolve(import.meta.dirname, "../..");
export const DTS = path.join(REPO, "policies/cgwatch-policy.d.ts");
export const DOC = path.join(REPO, "docs/policies.md");
export const BEGIN =
  "<!-- BEGIN fields: generated from policies/cgwatch-policy.d.ts (CGWATCH_WRITE_DOCS=1 npx vitest run test/policy/docs-fields.test.ts) -->";
export const END = "<!-- END fields -->";

interface Field {
  readonly name: string;
  readonly type: string;
  readonly doc: string;
  readonly optional: boolean;
}

function interfaces(source: ts.SourceFile): Map<string, { fields: Field[]; heritage: string[] }> {
  const out = new Map<string, { fields: Field[]; heritage: string[] }>();
  for (const st of source.statements) {
    if (!ts.isInterfaceDeclaration(st)) continue;
    const fields: Field[] = [];
    for (const m of st.members) {
      if (!ts.isPropertySignature(m) || m.type === undefined) continue;
      const docs = (m as unknown as { jsDoc?: ts.JSDoc[] }).jsDoc ?? [];
      const doc = docs
        .map((d) => (typeof d.comment === "string" ? d.comment : ""))
        .join(" ")
        .replace(/\s+/g, " ")
        .trim();
      fields.push({
        name: m.name.getText(source),
        type: m.type.getText(source).replace(/\s+/g, " "),
        doc,
        optional: m.questionToken !== undefined,
      });
    }
    const heritage = (st.heritageClauses ?? []).flatMap((h) => h.types.map((t) => t.expression.getText(source)));
    out.set(st.name.text, { fields, heritage });
  }
  return out;
}

/** The members of a union type alias, in order ("A | B" → ["A", "B"]). */
function unionMembers(source: ts.SourceFile, name: string): string[] {
  for (const st of source.statements) {
    if (ts.isTypeAliasDeclaration(st) && st.name.text === name && ts.isUnionTypeNode(st.type))
      return st.type.types.map((t) => t.getText(source));
  }
  throw new Error(`${name} is not a union type alias in ${DTS}`);
}

/** Expands a kind's type text to its literals: "MemoryEventKind" → memory_low, ...; '"a" | "b"' → a, b. */
function kindsOf(source: ts.SourceFile, typeText: string): string[] {
  const literal = [...typeText.matchAll(/"([a-z_]+)"/g)].map((m) => m[1] ?? "");
  if (literal.length > 0) return literal;
  return unionMembers(source, typeText).flatMap((t) => kindsOf(source, t));
}

const cell = (s: string): string => s.replaceAll("|", "\\|");

function table(fields: readonly Field[]): string[] {
  return [
    "| field | type | meaning |",
    "|---|---|---|",
    ...fields.map(
      (f) => `| \`${f.name}${f.optional ? "?" : ""}\` | \`${cell(f.type)}\` | ${cell(f.doc === "" ? "—" : f.doc)} |`,
    ),
  ];
}

export function generateFieldsSection(): string {
  const source = ts.createSourceFile(DTS, fs.readFileSync(DTS, "utf8"), ts.ScriptTarget.ES2022, true);
  const all = interfaces(source);
  const get = (name: string): { fields: Field[]; heritage: string[] } => {
    const i = all.get(name);
    if (i === undefined) throw new Error(`interface ${name} not found in ${DTS}`);
    return i;
  };
  const lines: string[] = [BEGIN, "", "### Event fields (`event`)", "", "Every event:", ""];
  const base = get("EventBase").fields;
  lines.push(
    ...table([
      { name: "kind", type: "EventKind", doc: "The event kind; the fields below depend on it.", optional: false },
      ...base,
    ]),
    "",
  );
  for (const member of unionMembers(source, "WatchdogEvent")) {
    const i = get(member);
    const kind = i.fields.find((f) => f.name === "kind");
    const own = i.fields.filter((f) => f.name !== "kind");
    const kinds = kind === undefined ? [] : kindsOf(source, kind.type);
    lines.push(`${kinds.map((k) => `\`${k}\``).join(", ")}${own.length === 0 ? ": no other field." : ":"}`, "");
    if (own.length > 0) lines.push(...table(own), "");
  }
  // Interfaces the event fields refer to (CounterChange, PressureStall, ...): each gets its own table.
  const events = new Set(["EventBase", ...unionMembers(source, "WatchdogEvent")]);
  const referenced: string[] = [];
  for (const member of events) {
    for (const f of get(member).fields) {
      for (const word of f.type.match(/[A-Z][A-Za-z0-9]*/g) ?? [])
        if (all.has(word) && !events.has(word) && !referenced.includes(word)) referenced.push(word);
    }
  }
  for (const name of referenced) lines.push(`\`${name}\`:`, "", ...table(get(name).fields), "");
  lines.push("### Snapshot fields (`cgroup`)", "");
  const snapshot: [string, string][] = [
    ["CgroupSnapshot", "`cgroup`"],
    ["MemorySnapshot", "`cgroup.memory`"],
    ["CpuSnapshot", "`cgroup.cpu`"],
    ["PidsSnapshot", "`cgroup.pids`"],
  ];
  const named = new Set(snapshot.map(([n]) => n));
  // Interfaces the snapshot refers to that this list does not know yet (a new nested part) are listed too.
  for (const f of get("CgroupSnapshot").fields) {
    const t = f.type.replace(/\s*\|\s*null$/, "");
    if (all.has(t) && !named.has(t)) snapshot.push([t, `\`cgroup.${f.name}\``]);
  }
  for (const [name, where] of snapshot) lines.push(`${where}:`, "", ...table(get(name).fields), "");
  lines.push(END);
  return lines.join("\n");
}

/** The section as it is in docs/policies.md now, or null when the markers are missing. */
export function currentFieldsSection(doc: string): string | null {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  return a < 0 || b < a ? null : doc.slice(a, b + END.length);
}
