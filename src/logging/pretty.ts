/**
 * A small built-in pretty printer for pino's JSON lines, for a terminal:
 * `HH:MM:SS.mmm LEVEL component: message key=value ...`. Built in rather
 * than pino-pretty because it needs ~60 lines and no dependency tree, and
 * because it must stay synchronous (see logger.ts): pino-pretty as a
 * transport runs in a worker thread with its own buffer.
 */
import fs from "node:fs";
import type { DestinationStream } from "pino";

const LEVEL_STYLE: Readonly<Record<string, { readonly label: string; readonly color: string }>> = {
  trace: { label: "TRACE", color: "\x1b[90m" },
  debug: { label: "DEBUG", color: "\x1b[36m" },
  info: { label: "INFO ", color: "\x1b[32m" },
  warn: { label: "WARN ", color: "\x1b[33m" },
  error: { label: "ERROR", color: "\x1b[31m" },
  fatal: { label: "FATAL", color: "\x1b[35m" },
};
const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
/** Fields every line has, or that the layout already shows. */
const SHOWN = new Set(["level", "time", "pid", "name", "msg", "component"]);

function fieldText(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One JSON log line → one human line (no trailing newline). A line that is not JSON passes through unchanged. */
export function formatPretty(line: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = typeof rec["level"] === "string" ? rec["level"] : String(rec["level"]);
  const style = LEVEL_STYLE[level] ?? { label: level.toUpperCase().padEnd(5), color: "" };
  const time = typeof rec["time"] === "string" ? (/T(\d\d:\d\d:\d\d\.\d+)/.exec(rec["time"])?.[1] ?? rec["time"]) : "";
  const component = typeof rec["component"] === "string" ? `${rec["component"]}: ` : "";
  const fields = Object.entries(rec)
    .filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => `${k}=${fieldText(v)}`)
    .join(" ");
  const lvl = color ? `${style.color}${style.label}${RESET}` : style.label;
  const rest = fields === "" ? "" : color ? ` ${DIM}${fields}${RESET}` : ` ${fields}`;
  const msg = rec["msg"];
  return `${time} ${lvl} ${component}${typeof msg === "string" ? msg : fieldText(msg ?? "")}${rest}`;
}

/** A synchronous pino destination writing pretty lines to `fd`. */
export function prettyDestination(fd: number, color: boolean): DestinationStream {
  return {
    write(chunk: string): void {
      const out = chunk
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => `${formatPretty(l, color)}\n`)
        .join("");
      fs.writeSync(fd, out);
    },
  };
}
