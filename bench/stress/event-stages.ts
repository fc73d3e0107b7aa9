/**
 * Where the event → action time goes, in-process: 100 fake v2 cgroups, a
 * policy that answers every oom_kill with a memory.max change, 1,500 paced
 * writes to memory.events. Prints the time from the write to the kernel
 * notification being read, and from there to the action decided (p50/p99).
 * Run with `node --cpu-prof` or `--trace-gc` to see what the handler spends.
 *   npm run build && node dist/bench/stress/event-stages.js
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { v2LayoutAt } from "../../src/cgroup/layout.js";
import { loadConfig } from "../../src/config/load.js";
import { startDaemon } from "../../src/daemon.js";
import { buildTree } from "../common.js";

const root = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "cgwatch-stages-"));
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-stages-cfg-"));
buildTree(root, 100);
fs.writeFileSync(
  path.join(work, "p.js"),
  'export const meta = { name: "p", on: ["oom_kill"], match: ["**"], cooldown: "0s" };\nexport function onEvent(e, c) { return [{ kind: "set_memory_limit", bytes: c.memory.limitBytes + 4096 }]; }\n',
);
fs.writeFileSync(path.join(work, "c.yaml"), `watch: [ "pods/*" ]\npolicies: { builtin: false, dirs: [ "${work}" ] }\nguardrails: { cooldown: 0s, rateLimit: null }\npsi: { memory: "off" }\n`);
const cfg = loadConfig({ path: path.join(work, "c.yaml"), env: {} });
if (cfg.kind !== "ok") throw new Error(JSON.stringify(cfg.errors));

let writeAt = 0;
const notify: number[] = [];
const decide: number[] = [];
const daemon = await startDaemon({
  config: cfg.config,
  logger: pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: true })),
  layout: v2LayoutAt(root),
  procRoot: "/proc",
  native: { kind: "unavailable", reason: "not needed on a fake v2 tree" },
  hostMemoryBytes: os.totalmem(),
  ownCgroups: [],
  serveMetrics: false,
  persistent: false,
  protectSelf: false,
  onAction: (p) => {
    notify.push(p.cause.at - writeAt);
    decide.push(performance.now() - p.cause.at);
  },
});
await daemon.ready;
const cgroups = fs
  .readdirSync(path.join(root, "pods"), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);
for (let i = 0; i < 1500; i++) {
  const file = path.join(root, "pods", cgroups[i % cgroups.length] ?? "", "memory.events");
  const kills = Number(/oom_kill (\d+)/.exec(fs.readFileSync(file, "utf8"))?.[1] ?? "0") + 1;
  writeAt = performance.now();
  fs.writeFileSync(file, `low 0\nhigh 0\nmax 0\noom 0\noom_kill ${kills}\noom_group_kill 0\n`);
  await new Promise((r) => setTimeout(r, 3));
}
const q = (xs: number[], p: number): string => ([...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))] ?? NaN).toFixed(3);
process.stdout.write(`n=${decide.length} write→notification read p50 ${q(notify, 0.5)} p99 ${q(notify, 0.99)} ms; →action decided p50 ${q(decide, 0.5)} p99 ${q(decide, 0.99)} ms\n`);
await daemon.stop();
fs.rmSync(root, { recursive: true, force: true });
fs.rmSync(work, { recursive: true, force: true });
process.exit(0);
