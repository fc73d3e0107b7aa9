/**
 * A real Prometheus (Debian's package, scripts/deps/prometheus.sh) for tests:
 * started by the test on 127.0.0.1 with a temp config and data dir, on a
 * free port, killed afterwards; plus the PromQL of every dashboard panel and
 * alert rule we ship, with Grafana's variables substituted.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
export const RULES_FILE = path.join(REPO, "prometheus/cgwatch-alerts.yml");
export const RULES_TEST_FILE = path.join(REPO, "prometheus/cgwatch-alerts.test.yml");
export const DASHBOARD_DIR = path.join(REPO, "grafana/dashboards");

/** Why the Prometheus tier cannot run here, or null. */
export function prometheusUnavailable(): string | null {
  for (const bin of ["prometheus", "promtool"]) {
    try {
      execFileSync(bin, ["--version"], { stdio: "ignore" });
    } catch {
      return `${bin} not installed (run scripts/deps/prometheus.sh)`;
    }
  }
  return null;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface RunningPrometheus {
  readonly url: string;
  readonly dir: string;
  query(expr: string): Promise<PromResult>;
  alerts(): Promise<PromAlert[]>;
  /** All values of a label over series matching `match`. */
  labelValues(label: string, match: string): Promise<string[]>;
  stop(): Promise<void>;
}

export interface PromResult {
  readonly status: "success" | "error";
  readonly error?: string;
  readonly data?: {
    readonly resultType: string;
    readonly result: Array<{ metric: Record<string, string>; value?: [number, string] }>;
  };
}

export interface PromAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: "pending" | "firing" | "inactive";
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastErr instanceof Error ? `: ${lastErr.message}` : ""}`,
  );
}

/** Starts Prometheus scraping `targets` under job "cgwatch" every second, with our alert rules evaluated every second. */
export async function startPrometheus(targets: readonly string[]): Promise<RunningPrometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-prom-"));
  const port = await freePort();
  const config = [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "  evaluation_interval: 1s",
    "rule_files:",
    `  - ${JSON.stringify(RULES_FILE)}`,
    "scrape_configs:",
    "  - job_name: cgwatch",
    "    static_configs:",
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(", ")}]`,
    "",
  ].join("\n");
  fs.writeFileSync(path.join(dir, "prometheus.yml"), config);
  const log = fs.openSync(path.join(dir, "prometheus.log"), "w");
  const child: ChildProcess = spawn(
    "prometheus",
    [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", log, log] },
  );
  fs.closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor("prometheus ready", 20_000, async () => {
      if (child.exitCode !== null)
        throw new Error(`prometheus exited: ${fs.readFileSync(path.join(dir, "prometheus.log"), "utf8")}`);
      const res = await fetch(`${url}/-/ready`);
      return res.ok ? true : null;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    dir,
    query: (expr) => getJson<PromResult>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`),
    alerts: async () => (await getJson<{ data: { alerts: PromAlert[] } }>(`${url}/api/v1/alerts`)).data.alerts,
    labelValues: async (label, match) =>
      (
        await getJson<{ data: string[] }>(
          `${url}/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}`,
        )
      ).data,
    stop,
  };
}

export interface ShippedQuery {
  /** "dashboard <file> panel <title> <refId>" or "rule <alert>". */
  readonly where: string;
  readonly panelTitle: string | null;
  readonly expr: string;
}

interface DashboardJson {
  panels: Array<{ title: string; targets?: Array<{ refId: string; expr: string }> }>;
  templating: { list: Array<{ name: string; type: string; definition?: string; query?: string | { query?: string } }> };
}

/** Every PromQL expression in our dashboards and alert rules. */
export function shippedQueries(): ShippedQuery[] {
  const out: ShippedQuery[] = [];
  for (const file of fs
    .readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const d = JSON.parse(fs.readFileSync(path.join(DASHBOARD_DIR, file), "utf8")) as DashboardJson;
    for (const p of d.panels) {
      for (const t of p.targets ?? [])
        out.push({ where: `dashboard ${file} panel "${p.title}" ${t.refId}`, panelTitle: p.title, expr: t.expr });
    }
  }
  const rules = parseYaml(fs.readFileSync(RULES_FILE, "utf8")) as {
    groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>;
  };
  for (const g of rules.groups)
    for (const r of g.rules) out.push({ where: `rule ${r.alert ?? r.record ?? "?"}`, panelTitle: null, expr: r.expr });
  return out;
}

/** The dashboards' variable queries (`label_values(<selector>, <label>)`). */
export function dashboardVariableQueries(): Array<{ where: string; match: string; label: string }> {
  const out: Array<{ where: string; match: string; label: string }> = [];
  for (const file of fs
    .readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const d = JSON.parse(fs.readFileSync(path.join(DASHBOARD_DIR, file), "utf8")) as DashboardJson;
    for (const v of d.templating.list) {
      // The query itself (`query.query`, what Grafana runs); `definition` is only its display text.
      const query = typeof v.query === "string" ? v.query : (v.query?.query ?? v.definition);
      if (v.type !== "query" || query === undefined) continue;
      const m = /^label_values\((.*),\s*(\w+)\)$/.exec(query);
      if (m === null) throw new Error(`${file} variable ${v.name}: unsupported query ${query}`);
      out.push({ where: `${file} variable ${v.name}`, match: m[1] ?? "", label: m[2] ?? "" });
    }
  }
  return out;
}

/** Regex-escapes a value the way Grafana does for a `=~"$var"` matcher, then escapes for a PromQL string. */
export function grafanaRegexValue(value: string): string {
  return value.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&").replace(/\\/g, "\\\\");
}

/** Substitutes Grafana's variables as Grafana would for one selected cgroup and instance (and container name: All when not given). */
export function substituteGrafanaVars(
  expr: string,
  vars: { cgroup: string; instance: string; rateInterval: string; range: string; name?: string },
): string {
  return expr
    .replace(/\$\{?name\}?/g, vars.name === undefined ? ".*" : grafanaRegexValue(vars.name))
    .replace(/\$__rate_interval/g, vars.rateInterval)
    .replace(/\$__interval/g, vars.rateInterval)
    .replace(/\$__range/g, vars.range)
    .replace(/\$\{?cgroup\}?/g, grafanaRegexValue(vars.cgroup))
    .replace(/\$\{?instance\}?/g, grafanaRegexValue(vars.instance));
}
