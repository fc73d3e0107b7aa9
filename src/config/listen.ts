/**
 * The metrics listen address: "host:port", "[v6]:port" or ":port" (all
 * interfaces), and systemd socket activation (LISTEN_FDS), which wins over
 * the address because the hardened unit gives the service no network of its
 * own to bind in (see systemd/cgwatch.socket).
 */
import net from "node:net";
import type { MetricsListen } from "./types.js";

export type ListenParse =
  | { readonly kind: "ok"; readonly listen: MetricsListen & { kind: "tcp" } }
  | { readonly kind: "invalid"; readonly reason: string };

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function parseListen(text: string): ListenParse {
  const bad = (why: string): ListenParse => ({
    kind: "invalid",
    reason: `${why} in ${JSON.stringify(text)} (expected host:port, e.g. 127.0.0.1:9786, [::1]:9786 or 0.0.0.0:9786)`,
  });
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:(\d*)$/.exec(text);
  if (v6 !== null) {
    host = v6[1] ?? "";
    portText = v6[2] ?? "";
    if (net.isIPv6(host) === false) return bad("not an IPv6 address");
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return bad("no port");
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) return bad("IPv6 addresses need brackets");
    if (host === "") host = "0.0.0.0";
    else if (!net.isIPv4(host) && !HOSTNAME.test(host)) return bad("not an IP address or host name");
  }
  if (!/^\d+$/.test(portText)) return bad("no port");
  const port = Number(portText);
  // 0 asks the kernel for a free port: useful for tests, never a default.
  if (port > 65535) return bad("port above 65535");
  return { kind: "ok", listen: { kind: "tcp", host, port } };
}

/**
 * sd_listen_fds(3): the first inherited fd is 3; LISTEN_PID must be us (a
 * stale variable inherited by a child must not make it grab fd 3).
 */
export function systemdListenFd(env: Readonly<Record<string, string | undefined>>, pid: number): MetricsListen | null {
  if (env.LISTEN_PID !== String(pid)) return null;
  const count = Number(env.LISTEN_FDS ?? "0");
  if (!Number.isInteger(count) || count < 1) return null;
  const names = (env.LISTEN_FDNAMES ?? "").split(":");
  // cgwatch.socket names its fd "metrics"; without names, the first fd is it.
  const index = Math.max(0, names.indexOf("metrics"));
  if (index >= count) return null;
  return { kind: "systemd", fd: 3 + index, name: names[index] ?? "" };
}
