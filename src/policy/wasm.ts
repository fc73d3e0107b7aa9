/**
 * The QuickJS WebAssembly build, loaded once per process. Node 20's type
 * definitions do not declare the `WebAssembly` global (and pulling in the DOM
 * lib would leak browser globals into the whole project), so the two
 * constructors we use are typed narrowly here.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import releaseSyncImport from "@jitl/quickjs-wasmfile-release-sync";
import type { QuickJSSyncVariant } from "quickjs-emscripten-core";

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** A capped memory that remembers whether the allocator's last attempt to grow it failed. */
export interface CappedMemory {
  readonly memory: WasmMemory;
  readonly lastGrowFailed: () => boolean;
  readonly resetGrowFlag: () => void;
}

interface WasmApi {
  readonly Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
  readonly Module: new (bytes: Uint8Array) => object;
}

const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export const WASM_PAGE = 64 * 1024;

/*
 * emscripten's heap resize calls `memory.grow` from JS and swallows the
 * RangeError at the cap, and QuickJS then reports "out of memory" only if the
 * failed allocation happened where it can (a Map bomb's failed rehash leaves
 * a corrupted context throwing `null` instead, well below the cap). Wrapping
 * `grow` on our own instance tells an exhausted memory apart from a policy bug.
 */
export function newCappedMemory(initialBytes: number, maximumBytes: number): CappedMemory {
  const memory = new wasmApi.Memory({
    initial: Math.ceil(initialBytes / WASM_PAGE),
    maximum: Math.floor(maximumBytes / WASM_PAGE),
  });
  const grow = memory.grow.bind(memory);
  let failed = false;
  Object.defineProperty(memory, "grow", {
    value: (pages: number): number => {
      try {
        const previous = grow(pages);
        failed = false;
        return previous;
      } catch (e) {
        failed = true;
        throw e;
      }
    },
  });
  return { memory, lastGrowFailed: () => failed, resetGrowFlag: () => (failed = false) };
}

/*
 * The package's type entry is its CommonJS build (`export { variant as default }`),
 * so TypeScript sees a namespace with `default`, while Node's ESM loader gives the
 * variant itself. Accept both shapes.
 */
function unwrapVariant(imported: unknown): QuickJSSyncVariant {
  const withDefault = imported as { default?: unknown; type?: unknown };
  if (withDefault.type === "sync") return imported as QuickJSSyncVariant;
  return withDefault.default as QuickJSSyncVariant;
}

export const RELEASE_SYNC: QuickJSSyncVariant = unwrapVariant(releaseSyncImport);

let compiled: object | null = null;

/** The QuickJS wasm, compiled once per process and instantiated once per policy. */
export function quickjsWasmModule(): object {
  if (compiled === null) {
    const require = createRequire(import.meta.url);
    compiled = new wasmApi.Module(fs.readFileSync(require.resolve("@jitl/quickjs-wasmfile-release-sync/wasm")));
  }
  return compiled;
}
