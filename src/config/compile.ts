/**
 * Validated file contents → RuntimeConfig: apply defaults, convert units,
 * resolve relative paths. Pure: the loader has already read the file and
 * checked the schema, and hands in what only it can know (the file's
 * directory, the shipped policies' directory, a systemd socket).
 */
import type { GuardrailOverrides, GuardrailSettings } from "../actions/guardrailConfig.js";
import { parseDuration, parseSize } from "../cgroup/parse.js";
import { normaliseCgroupPath } from "../cgroup/paths.js";
import path from "node:path";
import { DEFAULTS } from "./defaults.js";
import { parseListen } from "./listen.js";
import { parsePsiTrigger } from "./psi.js";
import type { ConfigFile } from "./schema.js";
import type { V1PressureLevel } from "../events/types.js";
import type { LogFormat, LogLevel, MetricsListen, PsiTrigger, RuntimeConfig, WatchRule } from "./types.js";

export interface CompileContext {
  /** Directory relative policy dirs are resolved against (the config file's), or null without a file. */
  readonly baseDir: string | null;
  readonly builtinPolicyDir: string;
  /** A listening socket from systemd, which wins over metrics.listen. */
  readonly systemdListen: MetricsListen | null;
}

/** Thrown only if the schema let through what a converter rejects: a bug, not a user error. */
class SchemaDriftError extends Error {
  override readonly name = "SchemaDriftError";
}

function bytes(v: string | number): number {
  const r = parseSize(v);
  if (r.kind !== "ok") throw new SchemaDriftError(r.reason);
  return r.value;
}

function ms(v: string | number): number {
  const r = parseDuration(v);
  if (r.kind !== "ok") throw new SchemaDriftError(r.reason);
  return r.value;
}

function psi(v: string | null | undefined, fallback: string): PsiTrigger | null {
  const r = parsePsiTrigger(v === undefined ? fallback : v === null ? "off" : v);
  if (r.kind !== "ok") throw new SchemaDriftError(r.reason);
  return r.trigger;
}

const optBytes = (v: string | number | null | undefined): number | null | undefined =>
  v === undefined ? undefined : v === null ? null : bytes(v);

/** Drops undefined fields: with exactOptionalPropertyTypes, "absent" and "undefined" differ. */
function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

type FileGuardrails = NonNullable<ConfigFile["guardrails"]>;
type FileMemory = NonNullable<FileGuardrails["memory"]>;
type FileCpu = NonNullable<FileGuardrails["cpu"]>;

function memoryOverrides(m: FileMemory | undefined): Partial<GuardrailSettings["global"]["memory"]> {
  if (m === undefined) return {};
  return defined({
    ceilingFractionOfHost: m.ceilingFractionOfHost,
    ceilingBytes: optBytes(m.ceiling),
    floorBytes: optBytes(m.floor),
    maxStepFraction:
      m.maxStepPercent === undefined ? undefined : m.maxStepPercent === null ? null : m.maxStepPercent / 100,
    maxStepBytes: optBytes(m.maxStep),
  });
}

function cpuOverrides(c: FileCpu | undefined): Partial<GuardrailSettings["global"]["cpu"]> {
  return c === undefined ? {} : defined({ minCores: c.minCores, maxCores: c.maxCores, maxStepFactor: c.maxStepFactor });
}

function compileGuardrails(g: FileGuardrails | undefined, dryRun: boolean): GuardrailSettings {
  const d = DEFAULTS.guardrails;
  const rate =
    g?.rateLimit === undefined
      ? d.rateLimit
      : g.rateLimit === null
        ? null
        : {
            perMinute: g.rateLimit.perMinute ?? d.rateLimit?.perMinute ?? 60,
            burst: g.rateLimit.burst ?? d.rateLimit?.burst ?? 10,
          };
  const global = {
    dryRun,
    memory: { ...d.memory, ...memoryOverrides(g?.memory) },
    cpu: { ...d.cpu, ...cpuOverrides(g?.cpu) },
    cooldownMs: g?.cooldown === undefined ? d.cooldownMs : ms(g.cooldown),
    rateLimit: rate,
    protectedCgroups: (g?.protected ?? d.protectedCgroups).map(normaliseCgroupPath),
  };
  const perPolicy: Record<string, GuardrailOverrides> = {};
  for (const [name, o] of Object.entries(g?.perPolicy ?? {})) {
    perPolicy[name] = defined({
      dryRun: o.dryRun,
      memory: o.memory === undefined ? undefined : memoryOverrides(o.memory),
      cpu: o.cpu === undefined ? undefined : cpuOverrides(o.cpu),
      cooldownMs: o.cooldown === undefined ? undefined : ms(o.cooldown),
      protectedCgroups: o.protected?.map(normaliseCgroupPath),
    });
  }
  return { global, perPolicy };
}

/**
 * A rule the operator wrote is their opt-in for what it matches, so a bare
 * glob acts (configs written before `act` existed keep acting); the built-in
 * catch-all used when no config names a cgroup observes only.
 */
function compileWatch(entries: ConfigFile["watch"]): WatchRule[] {
  if (entries === undefined)
    return DEFAULTS.watch.map((r) => ({
      pattern: normaliseCgroupPath(r.pattern),
      labels: {},
      act: r.act,
      v1PressureLevels: null,
    }));
  return entries.map((e) =>
    typeof e === "string"
      ? { pattern: normaliseCgroupPath(e), labels: {}, act: true, v1PressureLevels: null }
      : {
          pattern: normaliseCgroupPath(e.pattern ?? "**"),
          ...(e.container === undefined ? {} : { container: defined({ ...e.container }) }),
          labels: { ...(e.labels ?? {}) },
          act: e.act ?? true,
          v1PressureLevels: e.v1PressureLevels === undefined ? null : uniqueLevels(e.v1PressureLevels),
        },
  );
}

/** Each level once, lowest first (a duplicate would be a second eventfd saying the same). */
function uniqueLevels(levels: readonly V1PressureLevel[]): V1PressureLevel[] {
  return (["low", "medium", "critical"] as const).filter((l) => levels.includes(l));
}

function compileListen(listen: string | undefined, systemd: MetricsListen | null): MetricsListen {
  if (systemd !== null) return systemd;
  if (listen === undefined) return { kind: "tcp", host: DEFAULTS.metrics.host, port: DEFAULTS.metrics.port };
  const r = parseListen(listen);
  if (r.kind !== "ok") throw new SchemaDriftError(r.reason);
  return r.listen;
}

export function compileConfig(file: ConfigFile, ctx: CompileContext): RuntimeConfig {
  const dryRun = file.dryRun ?? DEFAULTS.dryRun;
  const p = file.policies;
  const userDirs = (p?.dirs ?? DEFAULTS.policies.dirs).map((d) =>
    path.isAbsolute(d) || ctx.baseDir === null ? path.resolve(d) : path.resolve(ctx.baseDir, d),
  );
  const root = file.cgroupRoot ?? DEFAULTS.cgroupRoot;
  const abs = (dirs: readonly string[]): string[] =>
    dirs.map((d) => (path.isAbsolute(d) || ctx.baseDir === null ? path.resolve(d) : path.resolve(ctx.baseDir, d)));
  return deepFreeze({
    cgroupRoot: root === "auto" ? { kind: "auto" } : { kind: "path", path: path.resolve(root) },
    watch: compileWatch(file.watch),
    exclude: (file.exclude ?? DEFAULTS.exclude).map(normaliseCgroupPath),
    policies: {
      dirs: (p?.builtin ?? DEFAULTS.policies.builtin) ? [ctx.builtinPolicyDir, ...userDirs] : userDirs,
      params: structuredClone(p?.params ?? {}),
      cooldownsMs: Object.fromEntries(Object.entries(p?.cooldowns ?? {}).map(([name, d]) => [name, ms(d)])),
      disabled: [...(p?.disabled ?? [])],
      quarantineAfter: p?.quarantineAfter ?? DEFAULTS.policies.quarantineAfter,
      deadlineMs: p?.deadline === undefined ? DEFAULTS.policies.deadlineMs : ms(p.deadline),
      memoryLimitBytes: p?.memoryLimit === undefined ? DEFAULTS.policies.memoryLimitBytes : bytes(p.memoryLimit),
    },
    guardrails: compileGuardrails(file.guardrails, dryRun),
    pollIntervalMs: file.pollInterval === undefined ? DEFAULTS.pollIntervalMs : ms(file.pollInterval),
    safetyNetIntervalMs:
      file.safetyNetInterval === undefined ? DEFAULTS.safetyNetIntervalMs : ms(file.safetyNetInterval),
    sampleIntervalMs: file.sampleInterval === undefined ? DEFAULTS.sampleIntervalMs : ms(file.sampleInterval),
    psi: {
      memory: psi(file.psi?.memory, DEFAULTS.psi.memory),
      cpu: psi(file.psi?.cpu, DEFAULTS.psi.cpu),
      io: psi(file.psi?.io, DEFAULTS.psi.io),
    },
    v1PressureLevels: uniqueLevels(file.v1PressureLevels ?? DEFAULTS.v1PressureLevels),
    dryRun,
    log: {
      level: (file.log?.level ?? DEFAULTS.log.level) as LogLevel,
      format: (file.log?.format ?? DEFAULTS.log.format) as LogFormat,
    },
    metrics: {
      listen: compileListen(file.metrics?.listen, ctx.systemdListen),
      retainRemovedMs: ms(file.metrics?.retainRemoved ?? DEFAULTS.metrics.retainRemoved),
      gzip: file.metrics?.gzip ?? DEFAULTS.metrics.gzip,
    },
    identity: {
      roots: {
        docker: abs(file.identity?.roots?.docker ?? DEFAULTS.identity.roots.docker),
        podman: abs(file.identity?.roots?.podman ?? DEFAULTS.identity.roots.podman),
        containerd: abs(file.identity?.roots?.containerd ?? DEFAULTS.identity.roots.containerd),
        crio: abs(file.identity?.roots?.crio ?? DEFAULTS.identity.roots.crio),
      },
      kmsg: file.identity?.kmsg === false ? null : (file.identity?.kmsg ?? DEFAULTS.identity.kmsg),
    },
    selfProtection: { oomScoreAdj: file.selfProtection?.oomScoreAdj ?? DEFAULTS.selfProtection.oomScoreAdj },
  });
}

/** The runtime config is shared by every component and must not be changed behind the others' backs. */
function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
