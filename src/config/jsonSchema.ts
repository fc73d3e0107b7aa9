/**
 * The JSON Schema editors use (yaml-language-server, VS Code, JetBrains),
 * generated from the zod schema so the two cannot disagree about keys and
 * types. config/cgwatch.schema.json is this function's output; regenerate it
 * with `CGWATCH_WRITE_SCHEMA=1 npx vitest run test/config/jsonSchema.test.ts`
 * (the test fails whenever the committed file is stale).
 */
import { z } from "zod/v4";
import { configFileSchema } from "./schema.js";

export const SCHEMA_ID = "https://cgwatch.invalid/cgwatch.schema.json";

export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(configFileSchema, { io: "input", target: "draft-2020-12" }) as Record<
    string,
    unknown
  >;
  return {
    ...generated,
    $id: SCHEMA_ID,
    title: "cgwatch configuration",
    description: "cgwatch.yaml: every key is optional; see docs/config.md for defaults and meaning.",
  };
}
