/**
 * A fake systemd notify socket: a real AF_UNIX SOCK_DGRAM socket, bound by
 * a small python3 process (Node cannot receive unix datagrams), that prints
 * each datagram it receives as one JSON line. What cgwatch sends through
 * the addon's sd_notify is exactly what systemd would read.
 *
 * Datagrams on one socket arrive in the order they were sent, so a test
 * can prove that something was NOT sent before a point by sending its own
 * sentinel datagram there (`send`) and looking at what came before it.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadNative } from "../../src/native/index.js";

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("BOUND", flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
`;

export interface NotifySocket {
  readonly path: string;
  /** Every datagram received so far, in order. */
  readonly messages: string[];
  /** Waits until `pred` holds over the messages (bounded). */
  until(pred: (ms: string[]) => boolean, what: string, timeoutMs?: number): Promise<string[]>;
  /** Sends a datagram to the socket from the test (a sentinel). */
  send(message: string): void;
  close(): void;
}

export async function startNotifySocket(): Promise<NotifySocket> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgwatch-notify-"));
  const sock = path.join(dir, "notify.sock");
  const py = spawn("python3", ["-u", "-c", RECEIVER, sock], { stdio: ["ignore", "pipe", "pipe"] });
  const messages: string[] = [];
  let bound = false;
  let stderr = "";
  let buf = "";
  py.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  py.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === "BOUND") bound = true;
      else messages.push(JSON.parse(line) as string);
    }
  });
  const until = async (pred: (ms: string[]) => boolean, what: string, timeoutMs = 20_000): Promise<string[]> => {
    const t0 = Date.now();
    while (!pred(messages)) {
      if (py.exitCode !== null) throw new Error(`the notify receiver exited ${py.exitCode}: ${stderr}`);
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(messages)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return messages;
  };
  await until(() => bound, "the receiver to bind", 30_000);
  const native = loadNative();
  if (native.kind !== "loaded") throw new Error(`the notify tests need the addon: ${native.reason}`);
  return {
    path: sock,
    messages,
    until,
    send: (m) => void native.native.sdNotify(sock, m),
    close() {
      if (py.exitCode === null) py.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
