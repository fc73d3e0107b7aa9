/**
 * docs/policies.md lists every event and snapshot field exactly as
 * policies/cgwatch-policy.d.ts declares them (generated, then compared), and
 * states the units of bare numbers the way the parsers read them.
 */
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { parsePsiTrigger } from "../../src/config/psi.js";
import { validateMeta } from "../../src/policy/meta.js";
import { currentFieldsSection, DOC, generateFieldsSection } from "./docsFields.js";

describe("docs/policies.md", () => {
  it("lists the event and snapshot fields of cgwatch-policy.d.ts (regenerate: CGWATCH_WRITE_DOCS=1)", () => {
    const doc = fs.readFileSync(DOC, "utf8");
    const generated = generateFieldsSection();
    const current = currentFieldsSection(doc);
    if (process.env["CGWATCH_WRITE_DOCS"] === "1" && current !== null)
      fs.writeFileSync(DOC, doc.replace(current, generated));
    expect(current).toBe(generated);
  });

  it("says a bare cooldown is milliseconds and a bare PSI integer microseconds, as the parsers read them", () => {
    const doc = fs.readFileSync(DOC, "utf8");
    expect(doc).toMatch(/bare number is milliseconds/);
    expect(doc).toMatch(/bare integer is microseconds/);
    const meta = validateMeta({ name: "p", on: ["sample"], cooldown: 1500 });
    expect(meta.kind === "ok" ? meta.meta.cooldownMs : null).toBe(1500);
    const psi = parsePsiTrigger("some 150000 1000000");
    expect(psi.kind === "ok" ? psi.trigger?.thresholdUs : null).toBe(150_000);
  });
});
