#!/usr/bin/env node
/**
 * The `cgwatch` command. Each subcommand is a thin shell over a function
 * that returns an exit code, so tests call the functions and the process
 * boundary stays here.
 */
import fs from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { readOwnCgroups } from "./actions/selfProtection.js";
import { detectLayout } from "./cgroup/detect.js";
import { parseSize } from "./cgroup/parse.js";
import { createFileReader } from "./cgroup/read.js";
import { actScope } from "./config/actScope.js";
import { formatConfigError } from "./config/format.js";
import { loadConfig, type ConfigOverrides, type LoadOptions } from "./config/load.js";
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, runDaemon } from "./lifecycle/run.js";
import { loadNative } from "./native/index.js";
import { preflight } from "./lifecycle/preflight.js";
import { runPolicyTest } from "./policy/replay.js";
import { memoryVersionOnDisk, notifierFor } from "./watch/notifiers.js";
import { createWatcher } from "./watch/watcher.js";
import { runDemo } from "./demo.js";
import { createIdentityResolver } from "./identity/resolver.js";
import { containerSnapshot } from "./identity/labels.js";
import { compileWatchRules } from "./identity/watchRules.js";

function packageVersion(): string {
  for (let dir = path.dirname(new URL(import.meta.url).pathname); dir !== "/"; dir = path.dirname(dir)) {
    const p = path.join(dir, "package.json");
    if (fs.existsSync(p)) {
      const pkg = JSON.parse(fs.readFileSync(p, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "cgwatch") return pkg.version ?? "0.0.0";
    }
  }
  return "0.0.0";
}

interface CommonFlags {
  config?: string;
  dryRun?: boolean;
  logLevel?: string;
  metricsListen?: string;
  cgroupRoot?: string;
}

function loadOptions(flags: CommonFlags): LoadOptions {
  const overrides: ConfigOverrides = {
    ...(flags.dryRun === undefined ? {} : { dryRun: flags.dryRun }),
    ...(flags.logLevel === undefined ? {} : { logLevel: flags.logLevel }),
    ...(flags.metricsListen === undefined ? {} : { metricsListen: flags.metricsListen }),
    ...(flags.cgroupRoot === undefined ? {} : { cgroupRoot: flags.cgroupRoot }),
  };
  return {
    ...(flags.config === undefined ? {} : { path: flags.config }),
    env: process.env,
    overrides,
    pid: process.pid,
  };
}

type FlagName = "config" | "dryRun" | "logLevel" | "metricsListen" | "cgroupRoot";

/** Adds the named common flags: each subcommand lists only those that act there (`check --help` shows no --dry-run). */
function withFlags(cmd: Command, names: readonly FlagName[]): Command {
  const flags: Record<FlagName, [string, string]> = {
    config: [
      "-c, --config <file>",
      "config file (default: $CGWATCH_CONFIG or /etc/cgwatch/cgwatch.yaml; absent = built-in defaults)",
    ],
    dryRun: ["--dry-run", "log and count actions without changing anything"],
    logLevel: ["--log-level <level>", "trace|debug|info|warn|error|fatal|silent"],
    metricsListen: ["--metrics-listen <host:port>", "where /metrics listens (default 127.0.0.1:9786)"],
    cgroupRoot: ["--cgroup-root <dir>", "cgroupfs root (default: detected from /proc/self/mountinfo)"],
  };
  for (const n of names) cmd.option(...flags[n]);
  return cmd;
}

/** `cgwatch check`: exactly the loading and compiling `run` does (and refuses to start without), with no side effects. */
export async function checkCommand(
  load: LoadOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const loaded = loadConfig(load);
  const checked = await preflight(loaded);
  if (checked.kind === "errors") {
    for (const p of checked.problems) out(`${p}\n`);
    out(`cgwatch check: ${checked.problems.length} error(s)\n`);
    return EXIT_CONFIG;
  }
  const source = loaded.kind === "ok" && loaded.source.kind === "file" ? loaded.source.path : "built-in defaults";
  out(
    `config ok (${source}); ${checked.policies.length} policies compiled: ${checked.policies.map((p) => p.meta.name).join(", ")}\n`,
  );
  return EXIT_OK;
}

/** `cgwatch status`: what would be watched and how, from a one-shot scan; plus the running instance's health if it answers. */
export async function statusCommand(
  load: LoadOptions,
  json: boolean,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const loaded = loadConfig(load);
  if (loaded.kind === "error") {
    for (const e of loaded.errors) out(`${formatConfigError(e)}\n`);
    return EXIT_CONFIG;
  }
  const { config } = loaded;
  const layout = detectLayout(config.cgroupRoot);
  const native = loadNative();
  const reader = createFileReader();
  const own = new Set(readOwnCgroups("/proc"));
  // Who each cgroup is, and the watch rules' container selectors, as the daemon sees them (no re-tries: one shot).
  const identities = createIdentityResolver({ roots: config.identity.roots, retryDelaysMs: [], persistent: false });
  const rules = compileWatchRules(config.watch, (c) => identities.resolve(c));
  const watcher = createWatcher({
    layout,
    reader,
    patterns: config.watch.map((w) => w.pattern),
    exclude: (c) => own.has(c) || (rules.byContainer && !rules.matches(c)),
    pollIntervalMs: 0,
    safetyNetIntervalMs: 0,
    native: null,
    persistent: false,
  });
  const sub = watcher.events$.subscribe();
  await watcher.ready;
  const mayAct = actScope(config.watch, (c) => identities.resolve(c));
  const rows = [...watcher.trackers.values()].map((t) => {
    // A path that exists only in the cpu hierarchy (hybrid hosts) has no memory notifier.
    const memory = memoryVersionOnDisk(t);
    return {
      cgroup: t.cgroup === "" ? "/" : t.cgroup,
      act: mayAct(t.cgroup),
      notifier: memory === null ? "none" : notifierFor(memory, native.kind === "loaded"),
      memory: memory === null ? "-" : `v${memory}`,
      cpuQuota: t.hasCpuQuota(),
      container: containerSnapshot(identities.resolve(t.cgroup)),
    };
  });
  identities.close();
  sub.unsubscribe();
  reader.close();
  let running: unknown = null;
  if (config.metrics.listen.kind === "tcp") {
    try {
      const res = await fetch(`http://${config.metrics.listen.host}:${config.metrics.listen.port}/healthz`, {
        signal: AbortSignal.timeout(1000),
      });
      running = await res.json();
    } catch {
      running = null;
    }
  }
  if (json) {
    out(
      `${JSON.stringify({ mode: layout.mode, native: native.kind === "loaded" ? "loaded" : native.reason, addon: native.kind === "loaded" ? native.path : null, dryRun: config.dryRun, running, cgroups: rows }, null, 2)}\n`,
    );
    return EXIT_OK;
  }
  out(
    `hierarchy: ${layout.mode}; native notifications: ${native.kind === "loaded" ? "eventfd/PSI available" : `unavailable (${native.reason}), polling`}\n`,
  );
  out(`running instance: ${running === null ? "not reachable" : JSON.stringify(running)}\n`);
  const actable = rows.filter((r) => r.act).length;
  out(
    `${rows.length} cgroup(s) match the watch patterns; ${actable} may be acted on${config.dryRun ? " (but dry-run is on)" : ""}, ${rows.length - actable} observed only:\n`,
  );
  for (const r of rows) {
    const who =
      r.container === null
        ? ""
        : ` ${r.container.engine}${r.container.name === null ? "" : `:${r.container.name}`}${r.container.image === null ? "" : ` (${r.container.image})`}`;
    out(
      `  ${r.cgroup}  ${r.act ? "act" : "observe"} memory=${r.memory} notifier=${r.notifier}${r.cpuQuota ? " cpu-quota" : ""}${who}\n`,
    );
  }
  return EXIT_OK;
}

interface PolicyTestFlags {
  events: string;
  params?: string;
  snapshot?: string;
  config?: string;
  hostMemory?: string;
}

/** `cgwatch policy test`: the flags checked (a bad --params or --host-memory is a usage error, 2), then the replay printed. */
export async function policyTestCommand(file: string, flags: PolicyTestFlags): Promise<number> {
  let params: Record<string, unknown> = {};
  if (flags.params !== undefined) {
    try {
      params = JSON.parse(flags.params) as Record<string, unknown>;
    } catch (err) {
      process.stderr.write(`--params is not JSON: ${(err as Error).message}\n`);
      return 2;
    }
  }
  let hostMemoryBytes: number | undefined;
  if (flags.hostMemory !== undefined) {
    const size = parseSize(flags.hostMemory);
    if (size.kind !== "ok") {
      process.stderr.write(`--host-memory: ${size.reason}\n`);
      return 2;
    }
    hostMemoryBytes = size.value;
  }
  const result = await runPolicyTest({
    policyFile: file,
    eventsFile: flags.events,
    params,
    ...(flags.snapshot === undefined ? {} : { snapshotFile: flags.snapshot }),
    ...(flags.config === undefined ? {} : { configFile: flags.config }),
    ...(hostMemoryBytes === undefined ? {} : { hostMemoryBytes }),
  });
  for (const line of result.lines) process.stdout.write(`${line}\n`);
  return result.exitCode;
}

export function buildProgram(exit: (code: number) => void): Command {
  const program = new Command("cgwatch")
    .description("Event-driven OOM and CPU-throttling watchdog for Linux cgroups, with sandboxed policies")
    .version(packageVersion(), "-V, --version")
    .showHelpAfterError()
    // Conventional exit codes: 0 for --help/--version, 2 for a usage error
    // (commander's default is 1, which scripts cannot tell from a failure).
    .exitOverride((err) => {
      const code =
        err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help"
          ? 0
          : 2;
      exit(code);
      throw err;
    });

  withFlags(program.command("run").description("run the watchdog (what the systemd unit and the DaemonSet start)"), [
    "config",
    "dryRun",
    "logLevel",
    "metricsListen",
    "cgroupRoot",
  ])
    .option(
      "--record <file>",
      "append every event and the cgroup snapshot policies see to FILE (JSON lines), a trace for `cgwatch policy test`",
    )
    .action(async (flags: CommonFlags & { record?: string }) =>
      exit(await runDaemon(loadOptions(flags), flags.record === undefined ? {} : { recordFile: flags.record })),
    );

  withFlags(
    program
      .command("check")
      .description("validate the config and compile every policy; exit non-zero with file:line:key errors"),
    ["config"],
  ).action(async (flags: CommonFlags) => exit(await checkCommand(loadOptions(flags))));

  withFlags(
    program
      .command("status")
      .description("which cgroups are watched and by which notifier (one-shot scan + the running instance's health)"),
    ["config", "metricsListen", "cgroupRoot"],
  )
    .option("--json", "machine-readable output")
    .action(async (flags: CommonFlags & { json?: boolean }) =>
      exit(await statusCommand(loadOptions(flags), flags.json === true)),
    );

  const policy = program.command("policy").description("policy authoring tools");
  policy
    .command("test")
    .description("replay a recorded event trace (JSON lines) against a policy and print the actions it would take")
    .argument("<policy>", "policy file (.js)")
    .requiredOption(
      "--events <file>",
      "JSON-lines trace: what `cgwatch run --record FILE` writes ({event, snapshot} per line), or bare events",
    )
    .option("--params <json>", "ctx.params overrides as JSON")
    .option(
      "--snapshot <file>",
      "starting cgroup snapshot (JSON: one snapshot, or cgroup path → snapshot) for cgroups whose lines carry none",
    )
    .option(
      "-c, --config <file>",
      "cgwatch config whose guardrails and policies.params apply (default: the built-in defaults)",
    )
    .option("--host-memory <bytes>", "host MemTotal for the memory ceiling guardrail (default: this machine's)")
    .action(async (file: string, flags: PolicyTestFlags) => exit(await policyTestCommand(file, flags)));

  program
    .command("demo")
    .description(
      "create a scratch cgroup under cgwatch's own, show an OOM stall rescued and a throttled loop given burst, clean up",
    )
    .option("--keep-going", "continue with the CPU part even if the memory part fails")
    .action(async (flags: { keepGoing?: boolean }) => exit(await runDemo({ keepGoing: flags.keepGoing === true })));

  // Bare `cgwatch` is a usage error, as README's exit codes say: help on
  // stderr (stdout stays clean for scripts), exit 2. `cgwatch --help` is the
  // request for help: stdout, exit 0.
  for (const group of [program, policy]) {
    group.allowExcessArguments(true).action(() => {
      if (group.args.length > 0)
        group.error(`error: unknown command '${group.args[0] ?? ""}'`, {
          code: "commander.unknownCommand",
          exitCode: 2,
        });
      group.outputHelp({ error: true });
      exit(2);
    });
  }

  return program;
}

const isMain =
  process.argv[1] !== undefined &&
  fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (isMain) {
  const program = buildProgram((code) => {
    process.exitCode = code;
    // Sources are unsubscribed by now; exit explicitly so a stray handle cannot hold the process.
    setImmediate(() => process.exit(code));
  });
  program.parseAsync(process.argv).catch((err: unknown) => {
    // exitOverride already chose the code for commander's own errors.
    if (err instanceof Error && "code" in err && typeof err.code === "string" && err.code.startsWith("commander."))
      return;
    process.stderr.write(`cgwatch: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(EXIT_FAILURE);
  });
}
