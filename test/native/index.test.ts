import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { addonCandidates, loadNative, loadNativeUncached, nativeAvailability } from "../../src/native/index.js";
import { sdNotify } from "../../src/native/sdNotify.js";
import { countFds, describeNative, isEventfd, native, waitFor } from "./util.js";

describe("native loader", () => {
  it("looks for the addon under build/ of the repo root, from src/ and from dist/src/", () => {
    const root = path.resolve(import.meta.dirname, "..", "..");
    expect(addonCandidates()).toContain(path.join(root, "build", "Release", "cgwatch_native.node"));
    const fromDist = addonCandidates(`file://${path.join(root, "dist", "src", "native", "index.js")}`);
    expect(fromDist).toContain(path.join(root, "build", "Release", "cgwatch_native.node"));
  });

  it("reports a missing build as unavailable with the paths it tried, without throwing", () => {
    const r = loadNativeUncached({}, ["/nonexistent/cgwatch_native.node"]);
    expect(r).toEqual({
      kind: "unavailable",
      reason: expect.stringContaining("/nonexistent/cgwatch_native.node") as unknown,
    });
  });

  it("reports a file that is not an addon as unavailable, with the loader's message", () => {
    const bogus = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-native-")), "cgwatch_native.node");
    fs.writeFileSync(bogus, "not an ELF");
    const r = loadNativeUncached({}, [bogus]);
    expect(r.kind).toBe("unavailable");
    if (r.kind === "unavailable") expect(r.reason).toMatch(/could not load .*cgwatch_native\.node/);
    fs.rmSync(path.dirname(bogus), { recursive: true });
  });

  it("CGWATCH_DISABLE_NATIVE=1 wins over a present build", () => {
    expect(loadNativeUncached({ CGWATCH_DISABLE_NATIVE: "1" })).toEqual({
      kind: "unavailable",
      reason: "disabled by CGWATCH_DISABLE_NATIVE=1",
    });
  });
});

describeNative("addon", () => {
  it("is loaded here and says so", () => {
    expect(loadNative().kind).toBe("loaded");
    expect(nativeAvailability()).toEqual({ available: true, reason: null, fallbackMetric: 0 });
  });

  it("creates non-blocking close-on-exec eventfds", () => {
    const n = native();
    const fd = n.eventfd();
    expect(fs.readlinkSync(`/proc/self/fd/${fd}`)).toBe("anon_inode:[eventfd]");
    const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
    // flags are octal: O_NONBLOCK 04000, O_CLOEXEC 02000000
    const flags = parseInt(/flags:\s*([0-7]+)/.exec(info)?.[1] ?? "0", 8);
    expect(flags & 0o4000).toBe(0o4000);
    expect(flags & 0o2000000).toBe(0o2000000);
    n.closeFd(fd);
    expect(() => n.closeFd(fd)).toThrow(/EBADF/);
  });

  it("Watcher drains the counter: writes between two reads add up into one callback", async () => {
    const n = native();
    const fd = n.eventfd();
    const seen: number[] = [];
    const w = new n.Watcher(fd, 0, (err, v) => {
      expect(err).toBeNull();
      seen.push(v ?? -1);
    });
    n.eventfdWrite(fd, 3);
    n.eventfdWrite(fd, 3);
    await waitFor(() => seen.length >= 1, "first callback");
    n.eventfdWrite(fd, 1);
    await waitFor(() => seen.length >= 2, "second callback");
    expect(seen).toEqual([6, 1]);
    w.close();
  });

  it("close() closes the fd exactly once and stops callbacks", async () => {
    const n = native();
    const before = countFds(isEventfd);
    const fd = n.eventfd();
    let calls = 0;
    const w = new n.Watcher(fd, 0, () => {
      calls++;
    });
    expect(countFds(isEventfd)).toBe(before + 1);
    w.close();
    expect(w.closed).toBe(true);
    expect(countFds(isEventfd)).toBe(before);
    w.close(); // idempotent: must not close an fd number someone else reuses
    const reuse = n.eventfd(); // likely the same number
    w.close();
    expect(fs.readlinkSync(`/proc/self/fd/${reuse}`)).toBe("anon_inode:[eventfd]");
    n.eventfdWrite(reuse, 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(0);
    n.closeFd(reuse);
  });

  it("refuses bad arguments with a TypeError and leaves the fd to the caller", () => {
    const n = native();
    const fd = n.eventfd();
    expect(() => new n.Watcher(fd, 2 as 0, () => undefined)).toThrow(TypeError);
    n.closeFd(fd); // still ours
  });

  it("registration errors name the file and the errno, and leak no fd", () => {
    const n = native();
    const before = countFds(() => true);
    let err: (Error & { code?: string }) | undefined;
    try {
      n.openV1Notification("/nonexistent-cgroup", "memory.oom_control", "");
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe("ENOENT");
    expect(err?.message).toContain("/nonexistent-cgroup/memory.oom_control");
    // A real file without cgroup.event_control beside it: fails at the second open.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-native-"));
    fs.writeFileSync(path.join(tmp, "memory.oom_control"), "");
    expect(() => n.openV1Notification(tmp, "memory.oom_control", "")).toThrow(/cgroup\.event_control/);
    fs.rmSync(tmp, { recursive: true });
    expect(countFds(() => true)).toBe(before);
  });

  // The next three run a child node so a hang or a crash cannot take vitest with it.
  const child = (script: string): { status: number | null; stdout: string; stderr: string } => {
    const load = loadNative();
    if (load.kind !== "loaded") throw new Error("unreachable");
    const r = spawnSync(process.execPath, ["-e", `const n = require(${JSON.stringify(load.path)});\n${script}`], {
      encoding: "utf8",
      timeout: 20_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it("the addon's own opens (eventfd registration, PSI trigger) refuse a FIFO, a symlink and a directory at once, never blocking", () => {
    // In a child: an open that blocked on the FIFO would time the child out, not hang vitest.
    // (O_WRONLY|O_NONBLOCK on a FIFO without a reader fails ENXIO before fstat can say EINVAL.)
    const r = child(`
      const fs = require("node:fs"), os = require("node:os"), path = require("node:path");
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-native-hostile-"));
      const at = (f) => path.join(dir, f);
      const code = (fn) => { try { fn(); return "opened"; } catch (e) { return e.code; } };
      require("node:child_process").execFileSync("mkfifo", [at("fifo")]);
      fs.writeFileSync(at("regular"), "");
      fs.mkdirSync(at("adir"));
      fs.symlinkSync(at("regular"), at("link"));
      const out = {};
      // cgroup.event_control is a FIFO, the watched file a regular one, and the other way round.
      fs.renameSync(at("fifo"), at("cgroup.event_control"));
      out.controlFifo = code(() => n.openV1Notification(dir, "regular", ""));
      fs.renameSync(at("cgroup.event_control"), at("fifo"));
      fs.writeFileSync(at("cgroup.event_control"), "");
      out.targetFifo = code(() => n.openV1Notification(dir, "fifo", ""));
      out.targetLink = code(() => n.openV1Notification(dir, "link", ""));
      out.psiFifo = code(() => n.openPsiTrigger(at("fifo"), "some 150000 1000000"));
      out.psiDir = code(() => n.openPsiTrigger(at("adir"), "some 150000 1000000"));
      out.psiLink = code(() => n.openPsiTrigger(at("link"), "some 150000 1000000"));
      fs.rmSync(dir, { recursive: true });
      console.log(JSON.stringify(out));`);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      controlFifo: "ENXIO",
      targetFifo: "EINVAL",
      targetLink: "ELOOP",
      psiFifo: "EINVAL",
      psiDir: "EISDIR",
      psiLink: "ELOOP",
    });
  });

  it("an unref'd watcher does not keep the process alive; a ref'd one does until closed", () => {
    const r = child(`
      const a = new n.Watcher(n.eventfd(), 0, () => {}); a.unref();
      const fd = n.eventfd();
      const b = new n.Watcher(fd, 0, (e, v) => { console.log("tick", v); b.close(); });
      setTimeout(() => n.eventfdWrite(fd, 5), 50);
      process.on("exit", () => console.log("exit"));`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("tick 5\nexit\n");
  });

  it("a throwing callback becomes an uncaughtException, and microtasks run after each callback", () => {
    const r = child(`
      process.on("uncaughtException", (e) => { console.log("caught", e.message); w.close(); });
      const fd = n.eventfd();
      const w = new n.Watcher(fd, 0, () => { Promise.resolve().then(() => console.log("microtask")); throw new Error("boom"); });
      n.eventfdWrite(fd, 1);`);
    expect(r.status).toBe(0);
    // Order is Node's business (the exception is raised before the scope's microtask checkpoint); both must happen.
    expect(r.stdout.split("\n").filter(Boolean).sort()).toEqual(["caught boom", "microtask"]);
  });

  it("a Worker that ends with watchers still open (exit, terminate, throw) closes their fds and does not abort", () => {
    const load = loadNative();
    if (load.kind !== "loaded") throw new Error("unreachable");
    const r = child(`
      const { Worker } = require("worker_threads");
      const fs = require("fs");
      const efds = () => fs.readdirSync("/proc/self/fd").filter((f) => { try { return fs.readlinkSync("/proc/self/fd/" + f) === "anon_inode:[eventfd]"; } catch { return false; } }).length;
      const base = efds();
      const run = (mode) => new Promise((resolve) => {
        const w = new Worker(\`
          const n = require(${JSON.stringify(load.path)});
          const fd = n.eventfd();
          new n.Watcher(fd, 0, () => { require("worker_threads").parentPort.postMessage("tick");
            if ("\${mode}" === "exit") process.exit(0); if ("\${mode}" === "throw") throw new Error("x"); });
          for (let i = 0; i < 5; i++) new n.Watcher(n.eventfd(), 0, () => {});
          n.eventfdWrite(fd, 1);\`, { eval: true });
        w.on("error", () => {});
        w.on("message", () => { if (mode === "terminate") void w.terminate(); });
        w.on("exit", () => resolve(mode + " " + (efds() - base)));
      });
      (async () => { for (const m of ["exit", "terminate", "throw"]) console.log(await run(m)); })();`);
    expect(r.stderr).not.toMatch(/FATAL|Abort/);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("exit 0\nterminate 0\nthrow 0\n");
  });

  it("sdNotify sends one datagram to a path socket and to an abstract one", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-notify-"));
    const sockPath = path.join(dir, "notify.sock");
    const abstract = `@cgwatch-test-${process.pid}`;
    // Node cannot bind unix datagram sockets either: python3 plays systemd.
    const py = spawn(
      "python3",
      [
        "-c",
        [
          "import socket, sys",
          "a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); a.bind(sys.argv[1])",
          "b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); b.bind('\\0' + sys.argv[2][1:])",
          "print('ready', flush=True)",
          "print(a.recv(4096).decode(), flush=True)",
          "print(b.recv(4096).decode(), flush=True)",
        ].join("\n"),
        sockPath,
        abstract,
      ],
      { stdio: ["ignore", "pipe", "inherit"], timeout: 20_000 },
    );
    let out = "";
    py.stdout.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => out.startsWith("ready\n"), "python to bind");
      expect(sdNotify("READY=1\nSTATUS=watching", { NOTIFY_SOCKET: sockPath })).toEqual({
        kind: "sent",
        socket: sockPath,
      });
      expect(sdNotify("WATCHDOG=1", { NOTIFY_SOCKET: abstract })).toEqual({ kind: "sent", socket: abstract });
      await new Promise((r) => py.once("exit", r));
      expect(out).toBe("ready\nREADY=1\nSTATUS=watching\nWATCHDOG=1\n");
    } finally {
      py.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true });
    }
    expect(sdNotify("READY=1", {})).toEqual({ kind: "no_socket" });
    const failed = sdNotify("READY=1", { NOTIFY_SOCKET: sockPath });
    expect(failed.kind).toBe("failed");
    if (failed.kind === "failed") expect(failed.reason).toMatch(/ENOENT|ECONNREFUSED/);
  });
});
