/**
 * Example config documents shared by the loader and JSON Schema tests. In a
 * bad document the line the error must point at carries the comment `#<`.
 * `structural` cases break a type, a key name, a format or a numeric range,
 * which the editor's JSON Schema must reject too; `semantic` ones break
 * rules only cgwatch's own checks know (PSI windows, addresses, paths on
 * disk), which the JSON Schema accepts.
 */
export interface BadCase {
  readonly name: string;
  readonly yaml: string;
  readonly key: string;
  readonly message: RegExp;
  readonly kind: "structural" | "semantic";
}

export const BAD_CASES: readonly BadCase[] = [
  {
    name: "wrong type (string for a boolean)",
    kind: "structural",
    key: "dryRun",
    message: /expected boolean/,
    yaml: `log:\n  level: info\ndryRun: "yes" #<\n`,
  },
  {
    name: "unknown top-level key (typo)",
    kind: "structural",
    key: "pollIntervall",
    message: /unknown key "pollIntervall"/,
    yaml: `pollInterval: 1s\npollIntervall: 2s #<\n`,
  },
  {
    name: "unknown nested key",
    kind: "structural",
    key: "guardrails.memory.cieling",
    message: /unknown key "cieling"/,
    yaml: `guardrails:\n  memory:\n    floor: 16M\n    cieling: 8g #<\n`,
  },
  {
    name: "bad size unit",
    kind: "structural",
    key: "guardrails.memory.floor",
    message: /not a size: "12X"/,
    yaml: `guardrails:\n  memory:\n    floor: 12X #<\n`,
  },
  {
    name: "negative size",
    kind: "structural",
    key: "policies.memoryLimit",
    message: /a size cannot be negative/,
    yaml: `policies:\n  memoryLimit: -5 #<\n`,
  },
  {
    name: "bad duration",
    kind: "structural",
    key: "pollInterval",
    message: /not a duration: "5 minutes"/,
    yaml: `pollInterval: 5 minutes #<\n`,
  },
  {
    name: "duration out of range",
    kind: "semantic",
    key: "pollInterval",
    message: /outside 10ms\.\.1h/,
    yaml: `dryRun: false\npollInterval: 1ms #<\n`,
  },
  {
    name: "PSI window below 500ms",
    kind: "semantic",
    key: "psi.memory",
    message: /outside the kernel's range 500ms\.\.10s/,
    yaml: `psi:\n  memory: some 100ms 400ms #<\n`,
  },
  {
    name: "PSI stall above window",
    kind: "semantic",
    key: "psi.io",
    message: /exceeds the window/,
    yaml: `psi:\n  memory: "off"\n  io: full 2s 1s #<\n`,
  },
  {
    name: "PSI malformed",
    kind: "structural",
    key: "psi.cpu",
    message: /stall type must be "some" or "full"/,
    yaml: `psi:\n  cpu: most 1s 2s #<\n`,
  },
  {
    name: "listen without port",
    kind: "semantic",
    key: "metrics.listen",
    message: /no port/,
    yaml: `metrics:\n  listen: localhost #<\n`,
  },
  {
    name: "listen port out of range",
    kind: "semantic",
    key: "metrics.listen",
    message: /port above 65535/,
    yaml: `metrics:\n  listen: "0.0.0.0:70000" #<\n`,
  },
  {
    name: "log level not a level",
    kind: "structural",
    key: "log.level",
    message: /expected one of/,
    yaml: `log:\n  format: json\n  level: verbose #<\n`,
  },
  {
    name: "watch pattern escaping the root",
    kind: "semantic",
    key: "watch[1].pattern",
    message: /must not contain "\.\."/,
    yaml: `watch:\n  - docker/*\n  - pattern: a/../b #<\n`,
  },
  {
    name: "bad Prometheus label name",
    kind: "structural",
    key: "watch[0].labels.tier-1",
    message: /label names must match/,
    yaml: `watch:\n  - pattern: system.slice/*.service\n    labels:\n      tier-1: critical #<\n`,
  },
  {
    name: "act not a boolean",
    kind: "structural",
    key: "watch[0].act",
    message: /act must be true or false/,
    yaml: `watch:\n  - pattern: docker/*\n    act: yes please #<\n`,
  },
  {
    name: "policy sandbox memory below 16M",
    kind: "semantic",
    key: "policies.memoryLimit",
    message: /below the minimum 16M/,
    yaml: `policies:\n  memoryLimit: 8M #<\n`,
  },
  {
    name: "oom_score_adj out of range",
    kind: "structural",
    key: "selfProtection.oomScoreAdj",
    message: /<=1000|>=-1000/,
    yaml: `selfProtection:\n  oomScoreAdj: -2000 #<\n`,
  },
  {
    name: "per-policy guardrail with a global-only key",
    kind: "structural",
    key: "guardrails.perPolicy.oom-rescue.rateLimit",
    message: /unknown key "rateLimit"/,
    yaml: `guardrails:\n  perPolicy:\n    oom-rescue:\n      cooldown: 1m\n      rateLimit: { perMinute: 5 } #<\n`,
  },
  {
    name: "cgroupRoot relative",
    kind: "semantic",
    key: "cgroupRoot",
    message: /"auto" or an absolute path/,
    yaml: `cgroupRoot: sys/fs/cgroup #<\n`,
  },
  {
    name: "missing policy directory",
    kind: "semantic",
    key: "policies.dirs[1]",
    message: /policy directory .*does-not-exist does not exist/,
    yaml: `policies:\n  dirs:\n    - .\n    - ./does-not-exist #<\n`,
  },
  {
    name: "cgroupRoot that does not exist",
    kind: "semantic",
    key: "cgroupRoot",
    message: /is not a directory/,
    yaml: `cgroupRoot: /nonexistent/cgroupfs #<\n`,
  },
  { name: "top level is a list", kind: "structural", key: "", message: /expected object/, yaml: `- dryRun #<\n` },
  {
    name: "unknown container selector key",
    kind: "structural",
    key: "watch[0].container.nmae",
    message: /unknown key "nmae"/,
    yaml: `watch:\n  - container:\n      nmae: web-1 #<\n`,
  },
  {
    name: "unknown engine",
    kind: "structural",
    key: "watch[0].container.engine",
    message: /expected one of/,
    yaml: `watch:\n  - container:\n      engine: lxc #<\n`,
  },
  {
    name: "retention not a duration",
    kind: "structural",
    key: "metrics.retainRemoved",
    message: /not a duration/,
    yaml: `metrics:\n  retainRemoved: forever #<\n`,
  },
  {
    name: "gzip not a boolean",
    kind: "structural",
    key: "metrics.gzip",
    message: /expected true or false/,
    yaml: `metrics:\n  gzip: sometimes #<\n`,
  },
];

/** Documents that must load (and that the JSON Schema must accept). */
export const GOOD_CASES: readonly { readonly name: string; readonly yaml: string }[] = [
  { name: "empty", yaml: "" },
  { name: "comments only", yaml: "# nothing set\n" },
  {
    name: "a realistic host",
    yaml: [
      "cgroupRoot: auto",
      "watch:",
      "  - docker/*",
      "  - system.slice/*.service",
      "  - pattern: system.slice/postgresql.service",
      "    labels: { tier: critical, team: db }",
      "  - pattern: kubepods.slice/**",
      "    act: false",
      "exclude: [system.slice/cgwatch.service]",
      "policies:",
      "  params:",
      "    oom-rescue: { ceiling: 8g, step: 1.5 }",
      "  disabled: [cpu-burst]",
      "  deadline: 20ms",
      "  memoryLimit: 64M",
      "guardrails:",
      "  memory: { ceiling: 64g, floor: 32M, maxStepPercent: 50, maxStep: 512M, ceilingFractionOfHost: null }",
      "  cpu: { minCores: 0.5, maxCores: 8 }",
      "  cooldown: 1m",
      "  rateLimit: null",
      "  protected: [system.slice/sshd.service, kubepods.slice/**]",
      "  perPolicy:",
      "    oom-rescue: { dryRun: true, memory: { ceiling: 16g }, cooldown: 10s, protected: [docker/db] }",
      "pollInterval: 500ms",
      "safetyNetInterval: 1m",
      "psi: { memory: full 100ms 2s, cpu: some 150000 1000000, io: null }",
      "dryRun: true",
      "log: { level: debug, format: pretty }",
      "metrics: { listen: '[::1]:9786' }",
      "selfProtection: { oomScoreAdj: -900 }",
      "",
    ].join("\n"),
  },
  {
    name: "sizes as bytes and binary suffixes",
    yaml: "guardrails:\n  memory: { floor: 16777216, maxStep: 1GiB, ceiling: 2t }\n",
  },
  {
    name: "watch by container identity, roots and kmsg",
    yaml: [
      "watch:",
      "  - container: { name: web-*, image: localhost/* }",
      "  - pattern: kubepods.slice/**",
      "    container: { namespace: prod, labels: { app.kubernetes.io/name: api } }",
      "    labels: { tier: critical }",
      "metrics: { retainRemoved: 10m, gzip: false }",
      "identity:",
      "  roots: { podman: [/srv/containers/storage] }",
      "  kmsg: false",
      "",
    ].join("\n"),
  },
];

/** 1-based line of the `#<` marker. */
export function markedLine(yaml: string): number {
  const i = yaml.split("\n").findIndex((l) => l.includes("#<"));
  if (i < 0) throw new Error("case has no #< marker");
  return i + 1;
}
