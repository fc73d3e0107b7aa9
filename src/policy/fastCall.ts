/**
 * The per-call path into a sandbox without quickjs-emscripten's handle
 * objects. Its `newString` + `callFunction` + `getString` allocate about
 * 2.5 KB of JS heap per call (Lifetime objects, closures, a pointer array
 * built with `map` and two typed-array views), most of what a policy call
 * allocated on the host (scripts/policyCallCost.mjs). Here the input bytes
 * are written into a scratch area of the sandbox's own memory, and the same
 * C functions the library calls (QTS_NewString, QTS_Call, QTS_GetString)
 * are called directly.
 *
 * It reads two members the library marks private (the context's pointer and
 * its handle factory); `bindFastCall` checks them at sandbox creation and
 * returns null when they are not there (another library version), and the
 * sandbox then keeps to the public API. Anything unusual (an input larger
 * than the scratch area) also takes the public path.
 */
import type {
  EitherFFI,
  JSContextPointer,
  JSValuePointer,
  QuickJSContext,
  QuickJSHandle,
} from "quickjs-emscripten-core";
import type { WasmMemory } from "./wasm.js";

/** Scratch bytes per sandbox: an event with its snapshot is about 1 KB, a state at most 16 KiB. */
const SCRATCH_BYTES = 64 * 1024;
/** Three argument pointers (onEvent, input, state) at the end of the scratch area. */
const ARGV_BYTES = 16;

interface PrivateContext {
  readonly ctx?: { readonly value?: unknown };
  readonly memory?: { heapValueHandle?: (ptr: JSValuePointer) => QuickJSHandle };
}

export type FastResult =
  | { readonly kind: "ok"; readonly output: string }
  /** The call threw out of the dispatcher (an interrupt, OOM, a trap in the policy's stack): the error, as a handle the caller dumps and disposes. */
  | { readonly kind: "threw"; readonly error: QuickJSHandle }
  /** Does not fit the scratch area: use the public path. */
  | { readonly kind: "unfit" };

export interface FastCall {
  call(input: string, state: string): FastResult;
  dispose(): void;
}

export function bindFastCall(
  context: QuickJSContext,
  ffi: EitherFFI,
  memory: WasmMemory,
  fn: { readonly dispatch: QuickJSHandle; readonly onEvent: QuickJSHandle },
): FastCall | null {
  const priv = context as unknown as PrivateContext;
  const ctxPtr = priv.ctx?.value;
  const handleOf = priv.memory?.heapValueHandle?.bind(priv.memory);
  if (typeof ctxPtr !== "number" || handleOf === undefined) return null;
  const ctx = ctxPtr as JSContextPointer;
  const scratch = context.newArrayBuffer(new ArrayBuffer(SCRATCH_BYTES + ARGV_BYTES));
  const base = ffi.QTS_GetArrayBuffer(ctx, scratch.value) as unknown as number;
  if (base === 0) {
    scratch.dispose();
    return null;
  }
  const argv = (base + SCRATCH_BYTES + 3) & ~3;
  const dispatch = fn.dispatch.value;
  const onEvent = fn.onEvent.value as unknown as number;
  const undef = context.undefined.value;
  // Views over the sandbox's memory, renewed when it grows (a grown memory has a new buffer).
  let heap = Buffer.from(memory.buffer);
  let words = new Int32Array(memory.buffer);
  const views = (): void => {
    if (heap.buffer === memory.buffer) return;
    heap = Buffer.from(memory.buffer);
    words = new Int32Array(memory.buffer);
  };
  return {
    call(input, state) {
      views();
      // (The first write of an event's input also flattens it: JSON.stringify builds long strings as ropes.)
      // Written with a bound and no length measured first (Buffer.byteLength allocates); a write that
      // comes within 4 bytes of its bound may have been cut at a character, so it is refused. JSON
      // has no raw NUL (JSON.stringify escapes it): each string ends at its terminator.
      const inputRoom = SCRATCH_BYTES - 2;
      const inputBytes = heap.write(input, base, inputRoom, "utf8");
      if (inputBytes > inputRoom - 4) return { kind: "unfit" };
      heap[base + inputBytes] = 0;
      const statePtr = base + inputBytes + 1;
      const stateRoom = SCRATCH_BYTES - inputBytes - 2;
      const stateBytes = heap.write(state, statePtr, stateRoom, "utf8");
      if (stateBytes > stateRoom - 4) return { kind: "unfit" };
      heap[statePtr + stateBytes] = 0;
      const a = ffi.QTS_NewString(ctx, base as never);
      const b = ffi.QTS_NewString(ctx, statePtr as never);
      views();
      words[argv >> 2] = onEvent;
      words[(argv >> 2) + 1] = a;
      words[(argv >> 2) + 2] = b;
      const res = ffi.QTS_Call(ctx, dispatch, undef, 3, argv as never);
      ffi.QTS_FreeValuePointer(ctx, a);
      ffi.QTS_FreeValuePointer(ctx, b);
      const err = ffi.QTS_ResolveException(ctx, res);
      if (err !== 0) {
        ffi.QTS_FreeValuePointer(ctx, res);
        return { kind: "threw", error: handleOf(err) };
      }
      const str = ffi.QTS_GetString(ctx, res) as unknown as number;
      views();
      const output = heap.toString("utf8", str, heap.indexOf(0, str));
      ffi.QTS_FreeCString(ctx, str as never);
      ffi.QTS_FreeValuePointer(ctx, res);
      return { kind: "ok", output };
    },
    dispose: () => scratch.dispose(),
  };
}
