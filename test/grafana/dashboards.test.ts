/**
 * The shipped Grafana dashboards, checked without a Grafana (none can run
 * here): against Grafana's own published dashboard model (the `Dashboard`
 * type of @grafana/schema, compiled with tsc, so a key of the wrong type or
 * an unknown key fails), and for what the types cannot say: every panel has
 * a unit, one unit per panel (so no axis mixes bytes/s with ops/s), no
 * overlapping panels, and provisioning that does not fight an existing
 * default datasource.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const REPO = path.resolve(import.meta.dirname, "../..");
const DIR = path.join(REPO, "grafana/dashboards");
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith(".json"))
  .sort();

interface PanelJson {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string }; overrides?: { properties?: { id: string; value?: unknown }[] }[] };
}
const dashboards = files.map((f) => ({
  file: f,
  json: JSON.parse(fs.readFileSync(path.join(DIR, f), "utf8")) as { panels: PanelJson[] },
}));

/** Grafana unit ids used here (grafana/packages/grafana-data valueFormats), plus custom "suffix:<text>" units. */
const GRAFANA_UNITS = new Set([
  "short",
  "percentunit",
  "percent",
  "bytes",
  "decbytes",
  "Bps",
  "binBps",
  "iops",
  "ops",
  "reqps",
  "s",
  "ms",
  "µs",
  "ns",
  "bool",
  "dateTimeAsIso",
]);

describe("grafana/dashboards", () => {
  it("match Grafana's published Dashboard type (@grafana/schema), strictly", () => {
    const cache = path.join(REPO, "node_modules/.cache/cgwatch-grafana");
    fs.mkdirSync(cache, { recursive: true });
    const check = path.join(cache, `check-${process.pid}.ts`);
    // Object literals typed as Dashboard: literal types and excess-property checks apply, as they would not to a JSON import.
    const source = [
      'import type { Dashboard } from "@grafana/schema";',
      ...dashboards.map((d, i) => `export const d${i}: Dashboard = ${JSON.stringify(d.json, null, 2)};`),
    ].join("\n");
    fs.writeFileSync(check, source);
    try {
      const tsc = path.join(REPO, "node_modules/typescript/bin/tsc");
      const args = [
        "--ignoreConfig",
        "--noEmit",
        "--strict",
        "--exactOptionalPropertyTypes",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--target",
        "es2022",
        "--skipLibCheck",
        "--types",
        "node",
        check,
      ];
      const r = spawnSync(process.execPath, [tsc, ...args], { cwd: REPO, encoding: "utf8", timeout: 120_000 });
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(check, { force: true });
    }
  }, 150_000);

  for (const { file, json } of dashboards) {
    it(`${file}: every panel has a Grafana unit, and only one (no override gives a series another unit)`, () => {
      const problems: string[] = [];
      for (const p of json.panels) {
        const unit = p.fieldConfig?.defaults?.unit;
        if (unit === undefined || unit === "" || unit === "none") problems.push(`${p.title}: no unit`);
        else if (!GRAFANA_UNITS.has(unit) && !/^suffix:\s*\S/.test(unit))
          problems.push(`${p.title}: unknown unit ${unit}`);
        for (const o of p.fieldConfig?.overrides ?? []) {
          for (const prop of o.properties ?? [])
            if (prop.id === "unit" && prop.value !== unit)
              problems.push(`${p.title}: an override sets unit ${String(prop.value)}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it(`${file}: panel ids are unique and no two panels overlap on the grid`, () => {
      const ids = json.panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      const overlaps: string[] = [];
      json.panels.forEach((a, i) =>
        json.panels.slice(i + 1).forEach((b) => {
          const g = a.gridPos;
          const h = b.gridPos;
          if (g.x < h.x + h.w && h.x < g.x + g.w && g.y < h.y + h.h && h.y < g.y + g.h)
            overlaps.push(`${a.title} / ${b.title}`);
        }),
      );
      expect(overlaps).toEqual([]);
      for (const p of json.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    });
  }

  it("the datasource provisioning example does not claim to be the default (Grafana refuses a second default)", () => {
    const text = fs.readFileSync(path.join(REPO, "grafana/provisioning/datasources/cgwatch-prometheus.yml"), "utf8");
    expect(text).not.toMatch(/^\s*isDefault:\s*true\b/m);
  });
});
