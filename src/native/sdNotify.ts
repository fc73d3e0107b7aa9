/**
 * sd_notify(3) for the daemon (READY=1, WATCHDOG=1, STOPPING=1, STATUS=...).
 * Node cannot send unix datagrams, so the send itself is in the addon; this
 * wrapper reads $NOTIFY_SOCKET and never throws: a failed notification is
 * logged by the caller, it must not take the watchdog down.
 */
import { loadNative, type NativeLoad } from "./index.js";

export type SdNotifyResult =
  | { readonly kind: "sent"; readonly socket: string }
  /** Not started by systemd with Type=notify: nothing to do. */
  | { readonly kind: "no_socket" }
  | { readonly kind: "unavailable"; readonly reason: string }
  | { readonly kind: "failed"; readonly socket: string; readonly reason: string };

export function sdNotify(
  message: string,
  env: NodeJS.ProcessEnv = process.env,
  load: NativeLoad = loadNative(),
): SdNotifyResult {
  const socket = env["NOTIFY_SOCKET"];
  if (socket === undefined || socket === "") return { kind: "no_socket" };
  switch (load.kind) {
    case "unavailable":
      return { kind: "unavailable", reason: `cannot notify systemd without the native addon: ${load.reason}` };
    case "loaded":
      try {
        load.native.sdNotify(socket, message);
        return { kind: "sent", socket };
      } catch (err) {
        return { kind: "failed", socket, reason: err instanceof Error ? err.message : String(err) };
      }
  }
}
