/**
 * policies/cgwatch-policy.d.ts is what policy authors type-check against;
 * its `Action` union must list exactly the registered kinds, each with
 * exactly its declared fields (name, optional or not, type text). Read with
 * the TypeScript parser, compared with the registry, so a kind added to
 * src/actions/kinds/ without its .d.ts line (or the reverse) fails here with
 * the kind and field named. (test/policy/authoring-types.typecheck.ts checks the
 * same union type-for-type at compile time.)
 */
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { expect, it } from "vitest";
import { ACTION_REGISTRY } from "../../../src/actions/kinds/index.js";

const DTS = path.join(import.meta.dirname, "../../../policies/cgwatch-policy.d.ts");

/** kind → "field?: type" lines, as the .d.ts declares them. */
function dtsActions(): Map<string, string[]> {
  const source = ts.createSourceFile(DTS, fs.readFileSync(DTS, "utf8"), ts.ScriptTarget.ES2022, true);
  const alias = source.statements.find(
    (s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === "Action",
  );
  if (alias === undefined || !ts.isUnionTypeNode(alias.type))
    throw new Error("cgwatch-policy.d.ts has no `type Action = ... | ...`");
  const kinds = new Map<string, string[]>();
  for (const member of alias.type.types) {
    if (!ts.isTypeLiteralNode(member))
      throw new Error(`Action member is not an object type: ${member.getText(source)}`);
    let kind: string | null = null;
    const fields: string[] = [];
    for (const p of member.members) {
      if (!ts.isPropertySignature(p) || p.type === undefined) throw new Error(`unexpected member ${p.getText(source)}`);
      const name = p.name.getText(source);
      if (name === "kind" && ts.isLiteralTypeNode(p.type) && ts.isStringLiteral(p.type.literal))
        kind = p.type.literal.text;
      else
        fields.push(
          `${name}${p.questionToken === undefined ? "" : "?"}: ${p.type.getText(source).replace(/\s+/g, " ")}`,
        );
    }
    if (kind === null) throw new Error(`Action member without a string kind: ${member.getText(source)}`);
    kinds.set(kind, fields);
  }
  return kinds;
}

function registeredActions(): Map<string, string[]> {
  return new Map(
    ACTION_REGISTRY.defs.map((def) => [
      def.kind,
      Object.entries(def.fields as Readonly<Record<string, { type: string; optional?: boolean }>>).map(
        ([name, f]) => `${name}${f.optional === true ? "?" : ""}: ${f.type}`,
      ),
    ]),
  );
}

it("the policy .d.ts Action union lists exactly the registered kinds, in order, with their fields", () => {
  const dts = dtsActions();
  const registered = registeredActions();
  expect([...dts.keys()]).toEqual([...registered.keys()]);
  for (const [kind, fields] of registered) expect(dts.get(kind), kind).toEqual(fields);
});
