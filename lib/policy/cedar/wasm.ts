/**
 * The one handle on @cedar-policy/cedar-wasm (its CommonJS `nodejs` build), loaded on first use:
 * compiling the wasm module is not free and an app without Cedar should not pay for it.
 */
import { setFlagsFromString } from 'node:v8';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';

let wasm: typeof CedarWasm | undefined;

export function cedar(): typeof CedarWasm {
  if (wasm === undefined) {
    avoidJsToWasmInlining();
    wasm = require('@cedar-policy/cedar-wasm/nodejs') as typeof CedarWasm;
  }
  return wasm;
}

/**
 * Node 20's V8 (11.3) aborts the whole process ("Fatal error … unreachable code" in
 * Deoptimizer::DoComputeBuiltinContinuation) when optimized code that TurboFan turned into a direct
 * JS-to-wasm call is deoptimized while that call runs and the export returns an externref, which
 * every cedar-wasm export does: a hot decision loop reaches it (test/cedar-lazy-deopt.test.ts forces
 * it). Turning off that TurboFan feature before cedar-wasm loads removes the frame kind: calls go
 * through the regular wasm wrapper, which one Cedar evaluation does not notice. The flag is
 * process-wide; set CONTINUOUS_TLS_KEEP_V8_FLAGS=1 to keep V8's defaults on a Node whose V8 has the fix.
 */
function avoidJsToWasmInlining(): void {
  if (process.env['CONTINUOUS_TLS_KEEP_V8_FLAGS'] === '1') return;
  setFlagsFromString('--no-turbo-inline-js-wasm-calls');
}
