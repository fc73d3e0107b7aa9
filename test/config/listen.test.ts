import { describe, expect, it } from "vitest";
import { parseListen, systemdListenFd } from "../../src/config/listen.js";

describe("parseListen", () => {
  it.each([
    ["127.0.0.1:9786", "127.0.0.1", 9786],
    ["0.0.0.0:0", "0.0.0.0", 0],
    [":9100", "0.0.0.0", 9100],
    ["[::1]:9786", "::1", 9786],
    ["[::]:65535", "::", 65535],
    ["node-1.example:9786", "node-1.example", 9786],
  ])("%s", (text, host, port) => {
    expect(parseListen(text)).toEqual({ kind: "ok", listen: { kind: "tcp", host, port } });
  });

  it.each([
    ["localhost", /no port/],
    ["127.0.0.1:65536", /above 65535/],
    ["::1:9786", /need brackets/],
    ["[1.2.3.4]:80", /not an IPv6/],
    ["bad_host!:80", /not an IP address or host name/],
    ["127.0.0.1:http", /no port/],
  ])("rejects %s", (text, why) => {
    const r = parseListen(text);
    expect(r.kind).toBe("invalid");
    if (r.kind === "invalid") expect(r.reason).toMatch(why);
  });
});

describe("systemdListenFd (sd_listen_fds semantics)", () => {
  it("uses fd 3 (or the fd named metrics) only when LISTEN_PID is this process", () => {
    expect(systemdListenFd({ LISTEN_PID: "7", LISTEN_FDS: "1" }, 7)).toEqual({ kind: "systemd", fd: 3, name: "" });
    expect(systemdListenFd({ LISTEN_PID: "7", LISTEN_FDS: "2", LISTEN_FDNAMES: "other:metrics" }, 7)).toEqual({
      kind: "systemd",
      fd: 4,
      name: "metrics",
    });
    expect(systemdListenFd({ LISTEN_PID: "8", LISTEN_FDS: "1" }, 7)).toBeNull();
    expect(systemdListenFd({ LISTEN_PID: "7", LISTEN_FDS: "0" }, 7)).toBeNull();
    expect(systemdListenFd({}, 7)).toBeNull();
  });
});
