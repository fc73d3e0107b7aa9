#!/usr/bin/env node
// `npm start`: the watchdog with its shipped defaults (config/cgwatch.yaml:
// every cgroup observed and none acted on until a watch rule opts it in, the
// shipped policies, /metrics on 127.0.0.1:9786).
// Installs and builds on a fresh clone first. Extra arguments go to
// `cgwatch run` (e.g. `npm start -- --dry-run`).
import { spawn } from "node:child_process";
import path from "node:path";
import { build, ensureNodeModules, root } from "./ensure.mjs";

if (!ensureNodeModules() || !build()) process.exit(1);
const child = spawn(
  process.execPath,
  [
    path.join(root, "dist/src/cli.js"),
    "run",
    "--config",
    path.join(root, "config/cgwatch.yaml"),
    ...process.argv.slice(2),
  ],
  {
    stdio: "inherit",
  },
);
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
