/**
 * config/cgwatch.schema.json is generated from the zod schema; this test
 * fails when the committed file is stale (regenerate with
 * CGWATCH_WRITE_SCHEMA=1), and checks that the JSON Schema judges the
 * example documents as the loader does: never rejecting a config cgwatch
 * accepts, and rejecting every structurally bad one.
 */
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { configJsonSchema } from "../../src/config/jsonSchema.js";
import { BAD_CASES, GOOD_CASES } from "./cases.js";
import { validate } from "./miniJsonSchema.js";

const repo = path.resolve(import.meta.dirname, "../..");
const schemaFile = path.join(repo, "config/cgwatch.schema.json");
const generated = `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
// Regenerating is a tool, not a test: the freshness check below then has
// nothing to compare (the file was just written from `generated`) and says
// so as NOT RUN instead of passing against itself.
const rewrote = process.env.CGWATCH_WRITE_SCHEMA === "1";
const committedText = fs.readFileSync(schemaFile, "utf8");
if (rewrote) fs.writeFileSync(schemaFile, generated);
const committed = JSON.parse(rewrote ? generated : committedText) as Record<string, unknown>;

const doc = (yaml: string): unknown => (parse(yaml) as unknown) ?? {};

describe("config/cgwatch.schema.json", () => {
  it("is what the zod schema generates (regenerate: CGWATCH_WRITE_SCHEMA=1 npx vitest run test/config/jsonSchema.test.ts)", (ctx) => {
    if (rewrote)
      ctx.skip(
        `NOT RUN: CGWATCH_WRITE_SCHEMA=1 rewrote the file (${committedText === generated ? "it was already fresh" : "it WAS stale"}); run again without it to compare`,
      );
    // The text read before any rewrite: never the file compared with itself.
    expect(committedText).toBe(generated);
  });

  it("forbids unknown keys in every object, as the loader does", () => {
    const objects: string[] = [];
    const walk = (s: unknown, at: string): void => {
      if (s === null || typeof s !== "object") return;
      const o = s as Record<string, unknown>;
      if (o.type === "object" && o.properties !== undefined) objects.push(`${at}:${String(o.additionalProperties)}`);
      for (const [k, v] of Object.entries(o)) walk(v, `${at}/${k}`);
    };
    walk(committed, "");
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects) expect(o).toMatch(/:false$/);
  });

  it("accepts the shipped config", () => {
    expect(validate(committed, doc(fs.readFileSync(path.join(repo, "config/cgwatch.yaml"), "utf8")))).toEqual([]);
  });

  for (const c of GOOD_CASES) {
    it(`accepts the good example "${c.name}"`, () => expect(validate(committed, doc(c.yaml))).toEqual([]));
  }

  for (const c of BAD_CASES) {
    it(`${c.kind === "structural" ? "rejects" : "accepts (a rule only cgwatch checks)"} the bad example "${c.name}"`, () => {
      const failures = validate(committed, doc(c.yaml));
      if (c.kind === "structural") expect(failures.length).toBeGreaterThan(0);
      else expect(failures).toEqual([]);
    });
  }
});
