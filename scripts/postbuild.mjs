#!/usr/bin/env node
// After `npm run build`: the CLI is the package's `bin`, run directly by its
// shebang (a symlink in /usr/bin, systemd's ExecStart=), so it must be
// executable. tsc writes new files 0644.
import fs from "node:fs";
import path from "node:path";

const cli = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "dist", "src", "cli.js");
fs.chmodSync(cli, 0o755);
