/**
 * One policy's QuickJS sandbox: its own WebAssembly instance with a capped
 * `WebAssembly.Memory` (QuickJS's own `setMemoryLimit` does not cap bytes in
 * quickjs-emscripten 0.32: an array bomb reached 1.5 GB under a 16 MB limit),
 * a per-call deadline through the interrupt handler, and a stack limit.
 *
 * Creating a sandbox is asynchronous (emscripten instantiation); calling it
 * is synchronous, so the event → action path never waits on a promise.
 * After an OOM or a wasm trap the instance is marked broken and must be
 * thrown away: a Map bomb leaves the context corrupted, and even `dispose()`
 * aborts on it, so a broken instance is dropped without disposing and left
 * to the garbage collector.
 *
 * One instance per policy, not one QuickJS module with a runtime per policy:
 * a module has one memory, and its maximum is the only byte cap there is,
 * so a shared one would let one policy's memory bomb starve the others. It
 * costs little: the memory is reserved, not resident (each 16 MB initial
 * memory was ~0.3 MB resident in smaps at 10,000 cgroups after a sample
 * pass), the compiled code is shared (wasm.ts), and each instance past the
 * first adds ~0.5 MB of RSS, so sharing would save ~2 MB for five policies.
 */
import { performance } from "node:perf_hooks";
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
} from "quickjs-emscripten-core";
import { bindFastCall, type FastCall } from "./fastCall.js";
import { preludeSource } from "./prelude.js";
import { MIN_MEMORY_BYTES, type PolicyCompileError, type PolicyLimits } from "./types.js";
import { newCappedMemory, quickjsWasmModule, RELEASE_SYNC, WASM_PAGE, type CappedMemory } from "./wasm.js";

/*
 * The emscripten glue prints aborts of discarded instances to stderr; the
 * engine already reports those as outcomes, so the glue's own printing is
 * silenced rather than interleaved with the daemon's JSON logs.
 */
// `print`/`printErr` are read by the glue but missing from the published option types.
const QUIET = { print: () => undefined, printErr: () => undefined } as unknown as NonNullable<
  Parameters<typeof newVariant>[1]["emscriptenModule"]
>;

export type CallResult =
  | { readonly kind: "ok"; readonly output: string }
  | { readonly kind: "timeout" }
  | { readonly kind: "oom"; readonly message: string }
  | { readonly kind: "crash"; readonly message: string }
  | { readonly kind: "error"; readonly name: string; readonly message: string; readonly stack: string };

export type CreateResult =
  | { readonly kind: "ok"; readonly sandbox: PolicySandbox; readonly metaJson: string }
  | { readonly kind: "error"; readonly error: PolicyCompileError };

interface DumpedError {
  readonly name: string;
  readonly message: string;
  readonly stack: string;
}

function asDumpedError(v: unknown): DumpedError | null {
  if (typeof v !== "object" || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.message !== "string") return null;
  return {
    name: typeof o.name === "string" ? o.name : "Error",
    message: o.message,
    stack: typeof o.stack === "string" ? o.stack : "",
  };
}

/** `file:line:col` from a QuickJS stack ("    at f (/p/x.js:3:12)" or "    at /p/x.js:3:12"). */
export function locate(stack: string, file: string): { line: number; column: number } | null {
  for (const raw of stack.split("\n")) {
    const idx = raw.indexOf(file + ":");
    if (idx < 0) continue;
    const m = /^:(\d+):(\d+)/.exec(raw.slice(idx + file.length));
    if (m !== null) return { line: Number(m[1]), column: Number(m[2]) };
  }
  return null;
}

export function compileError(
  file: string,
  message: string,
  at: { line: number; column: number } | null,
): PolicyCompileError {
  const where = at === null ? file : `${file}:${at.line}:${at.column}`;
  return { file, line: at?.line ?? null, column: at?.column ?? null, message, text: `${where}: ${message}` };
}

export class PolicySandbox {
  private deadline = Infinity;
  private interrupted = false;
  private broken = false;
  /** The params JSON this instance holds (set by the prelude's setParams), so unchanged params are not sent again. */
  private paramsSent: string | null = null;
  /** The allocation-light call path (fastCall.ts); null: the library's public API. */
  private fast: FastCall | null = null;

  private constructor(
    private readonly capped: CappedMemory,
    private readonly runtime: QuickJSRuntime,
    private readonly context: QuickJSContext,
    private readonly dispatch: QuickJSHandle,
    private readonly setParams: QuickJSHandle,
    private readonly onEvent: QuickJSHandle,
    private readonly limits: PolicyLimits,
  ) {}

  /** Instantiate a fresh sandbox and evaluate the policy module in it. */
  static async create(source: string, file: string, limits: PolicyLimits): Promise<CreateResult> {
    if (!(limits.memoryBytes >= MIN_MEMORY_BYTES)) {
      return {
        kind: "error",
        error: compileError(
          file,
          `memory cap ${limits.memoryBytes} B is below the QuickJS minimum of ${MIN_MEMORY_BYTES} B`,
          null,
        ),
      };
    }
    const capped = newCappedMemory(MIN_MEMORY_BYTES, limits.memoryBytes);
    const qjs = await newQuickJSWASMModuleFromVariant(
      newVariant(RELEASE_SYNC, { wasmModule: quickjsWasmModule(), wasmMemory: capped.memory, emscriptenModule: QUIET }),
    );
    const runtime = qjs.newRuntime();
    /*
     * No runtime.setMemoryLimit: in this build it counts allocations, not bytes,
     * and a Map bomb tripping it corrupts the context *below* the wasm cap, where
     * the failure cannot be told from a policy that threw null. The wasm memory
     * maximum is the one byte cap, and reaching it is unambiguous.
     */
    runtime.setMaxStackSize(limits.stackBytes);
    const context = runtime.newContext();
    // The policy's budget starts after cgwatch's own prelude (see below).
    const box = { deadline: Infinity, interrupted: false };
    runtime.setInterruptHandler(() => {
      if (performance.now() <= box.deadline) return false;
      box.interrupted = true;
      return true;
    });
    const fail = (message: string, at: { line: number; column: number } | null): CreateResult => {
      // A failed compile may have left the instance in any state; it is never reused.
      return { kind: "error", error: compileError(file, message, at) };
    };
    try {
      const prelude = context.evalCode(preludeSource(limits), "<cgwatch-prelude>");
      if (prelude.error) {
        prelude.error.dispose();
        return fail("internal: the cgwatch prelude failed to evaluate", null);
      }
      const dispatch = context.getProp(prelude.value, 0);
      const metaToJson = context.getProp(prelude.value, 1);
      const setParams = context.getProp(prelude.value, 2);
      prelude.value.dispose();

      // The top-level budget is the policy's, not the prelude's: the first
      // sandbox of a process runs on cold WebAssembly code (V8 compiles it
      // lazily), which on a slow host (the TCG VM: over 1 s) made the prelude
      // itself run out the budget and a good policy fail to compile.
      box.deadline = performance.now() + limits.compileDeadlineMs;
      const evaluated = context.evalCode(source, file, { type: "module" });
      if (evaluated.error) {
        const err = asDumpedError(safeDump(context, evaluated.error));
        if (box.interrupted) return fail(`top-level code ran past its ${limits.compileDeadlineMs} ms budget`, null);
        if (err === null) return fail("the module failed to evaluate (sandbox error unreadable)", null);
        return fail(`${err.name}: ${err.message}`, locate(err.stack, file));
      }
      let ns = evaluated.value;
      // A module with top-level await evaluates to a promise of its namespace.
      let state = context.getPromiseState(ns);
      if (state.type === "pending") {
        runtime.executePendingJobs();
        state = context.getPromiseState(ns);
      }
      if (state.type === "pending")
        return fail("top-level await never settled (the sandbox has no timers or I/O)", null);
      if (state.type === "rejected") {
        const err = asDumpedError(safeDump(context, state.error));
        return fail(
          err === null ? "top-level code rejected" : `${err.name}: ${err.message}`,
          err === null ? null : locate(err.stack, file),
        );
      }
      if (!state.notAPromise) ns = state.value;
      const onEvent = context.getProp(ns, "onEvent");
      if (context.typeof(onEvent) !== "function")
        return fail("the module must export a function `onEvent(event, cgroup, ctx)`", null);
      const metaHandle = context.getProp(ns, "meta");
      if (ns !== evaluated.value) ns.dispose();
      evaluated.value.dispose();
      const metaJsonResult = context.callFunction(metaToJson, context.undefined, metaHandle);
      if (metaJsonResult.error) return fail("`meta` is not JSON-serialisable", null);
      const metaJson = context.getString(metaJsonResult.value);
      metaJsonResult.value.dispose();
      metaHandle.dispose();
      metaToJson.dispose();
      const sandbox = new PolicySandbox(capped, runtime, context, dispatch, setParams, onEvent, limits);
      sandbox.fast = bindFastCall(context, qjs.getFFI(), capped.memory, { dispatch, onEvent });
      runtime.setInterruptHandler(() => sandbox.shouldInterrupt());
      return { kind: "ok", sandbox, metaJson };
    } catch (e) {
      return fail(`the sandbox trapped while loading: ${e instanceof Error ? e.message : String(e)}`, null);
    }
  }

  private shouldInterrupt(): boolean {
    if (performance.now() <= this.deadline) return false;
    this.interrupted = true;
    return true;
  }

  get isBroken(): boolean {
    return this.broken;
  }

  /** Bytes of wasm memory this instance has grown to (its resident ceiling). */
  get memoryBytes(): number {
    return this.capped.memory.buffer.byteLength;
  }

  /** The allocator failed to grow the memory, or it sits at its maximum. */
  private atCap(): boolean {
    return (
      this.capped.lastGrowFailed() || this.capped.memory.buffer.byteLength + 2 * WASM_PAGE > this.limits.memoryBytes
    );
  }

  /**
   * Call the policy's onEvent with the event input and state (JSON, protocol.ts)
   * and its params (JSON, sent into the sandbox only when they differ from the
   * last call's); synchronous, bounded by the deadline.
   */
  call(inputJson: string, stateJson: string, paramsJson: string): CallResult {
    if (this.broken) return { kind: "crash", message: "sandbox is broken and awaits rebuild" };
    if (paramsJson !== this.paramsSent) {
      const set = this.invoke(this.setParams, paramsJson, null);
      if (set.kind !== "ok") return set;
      this.paramsSent = paramsJson;
    }
    return this.invoke(this.dispatch, inputJson, stateJson);
  }

  /** A prelude function: setParams(json), or dispatch(onEvent, input, state) when `second` is given. */
  private invoke(fn: QuickJSHandle, first: string, second: string | null): CallResult {
    this.interrupted = false;
    this.capped.resetGrowFlag();
    this.deadline = performance.now() + this.limits.deadlineMs;
    try {
      const fast = second === null || this.fast === null ? null : this.fast.call(first, second);
      if (fast !== null && fast.kind !== "unfit") {
        this.deadline = Infinity;
        return fast.kind === "ok" ? { kind: "ok", output: fast.output } : this.thrown(fast.error);
      }
      const a = this.context.newString(first);
      const b = second === null ? null : this.context.newString(second);
      const res =
        b === null
          ? this.context.callFunction(fn, this.context.undefined, a)
          : this.context.callFunction(fn, this.context.undefined, this.onEvent, a, b);
      a.dispose();
      b?.dispose();
      this.deadline = Infinity;
      if (res.error) return this.thrown(res.error);
      const output = this.context.getString(res.value);
      res.value.dispose();
      return { kind: "ok", output };
    } catch (e) {
      // A wasm trap or an abort inside the emscripten glue: the instance cannot be trusted again.
      this.deadline = Infinity;
      this.broken = true;
      if (this.interrupted) return { kind: "timeout" };
      return this.atCap()
        ? { kind: "oom", message: "memory cap reached" }
        : { kind: "crash", message: e instanceof Error ? e.message : String(e) };
    }
  }

  /** An error thrown out of a prelude function (the dispatcher catches the policy's own). */
  private thrown(error: QuickJSHandle): CallResult {
    const dumped = asDumpedError(safeDump(this.context, error));
    safeDispose(error);
    if (this.interrupted) return { kind: "timeout" };
    if (dumped === null) {
      this.broken = true;
      return this.atCap()
        ? { kind: "oom", message: "memory cap reached" }
        : { kind: "crash", message: "sandbox error unreadable" };
    }
    return this.classify(dumped);
  }

  /**
   * Sort an error the sandbox reported (also errors the prelude caught and
   * serialised). An error raised while the memory sits at its cap is treated
   * as OOM whatever it says: a Map bomb, for one, surfaces as a `null` throw
   * from a corrupted context, and no instance at its cap is trusted again.
   */
  classify(err: DumpedError): CallResult {
    if (err.name === "InternalError" && err.message === "interrupted") return { kind: "timeout" };
    if ((err.name === "InternalError" && err.message === "out of memory") || this.atCap()) {
      this.broken = true;
      return {
        kind: "oom",
        message: err.message === "out of memory" ? err.message : `memory cap reached (then: ${err.message})`,
      };
    }
    return { kind: "error", name: err.name, message: err.message, stack: err.stack };
  }

  dispose(): void {
    if (this.broken) return; // disposing a corrupted runtime aborts inside QuickJS; the GC takes the whole instance
    try {
      this.fast?.dispose();
      this.onEvent.dispose();
      this.dispatch.dispose();
      this.setParams.dispose();
      this.context.dispose();
      this.runtime.dispose();
    } catch {
      // Same reason: nothing more to free by hand once QuickJS asserts.
    }
  }
}

function safeDump(context: QuickJSContext, handle: QuickJSHandle): unknown {
  try {
    return context.dump(handle);
  } catch {
    return null;
  }
}

function safeDispose(handle: QuickJSHandle): void {
  try {
    handle.dispose();
  } catch {
    // corrupted context; the instance is discarded by the caller
  }
}
