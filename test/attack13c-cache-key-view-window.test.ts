// Attack (cache key soundness): a typed array, DataView or ArrayBuffer is keyed by the bytes of its
// window alone (kind, byteLength, bytes). Everything else a policy reads from it is not keyed: the
// view's byteOffset and the whole underlying buffer (`view.buffer`, e.g. a Buffer slice of node's
// 8 KiB pool, or a subarray of a larger message), whether that buffer is a SharedArrayBuffer
// (whose bytes another thread rewrites) and whether it is resizable (maxByteLength). Below, each
// pair differs only there, shares one key, and the policy tells them apart: the cached answer for
// the first is served to the second.
// A correct library keys what the policy can read of such a value (offset, the whole buffer, its
// kind and resizability), or decides a view that is not exactly its buffer, or a shared or
// resizable buffer, uncached.
// Attack class: cache key soundness (9).
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

const bytes = [1, 2, 3, 4];
function windowed(): Uint8Array {
  const whole = new Uint8Array([0xde, 0xad, 0xbe, 0xef, ...bytes]);
  return whole.subarray(4);
}
function shared(): Uint8Array {
  const view = new Uint8Array(new SharedArrayBuffer(4));
  view.set(bytes);
  return view;
}
function resizable(): ArrayBuffer {
  // Resizable ArrayBuffers are newer than the lib typings here.
  const Resizable = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer;
  const buffer = new Resizable(4, { maxByteLength: 1 << 20 });
  new Uint8Array(buffer).set(bytes);
  return buffer;
}

const cases: Array<[string, () => unknown, () => unknown, (blob: any) => boolean]> = [
  [
    'a window over a larger buffer',
    () => new Uint8Array(bytes),
    windowed,
    (b) => b.byteOffset === 0 && b.buffer.byteLength === 4,
  ],
  [
    'a DataView window',
    () => new DataView(new Uint8Array(bytes).buffer),
    () => new DataView(windowed().buffer, 4, 4),
    (b) => b.byteOffset === 0,
  ],
  [
    'a view over a SharedArrayBuffer',
    () => new Uint8Array(bytes),
    shared,
    (b) => !(b.buffer instanceof SharedArrayBuffer),
  ],
  ['a resizable ArrayBuffer', () => new Uint8Array(bytes).buffer, resizable, (b) => !b.resizable],
];

for (const [name, plain, other, allow] of cases) {
  for (const facts of [['context.blob'], null]) {
    t.test(`${name} is not served the plain value's decision (facts: ${JSON.stringify(facts)})`, async (t) => {
      const policy = cached(
        Object.assign(
          (input: AuthorizationInput) => ({ allow: allow((input.context as { blob: unknown }).blob) }),
          facts === null ? {} : { factsRead: () => facts },
        ),
        new DecisionCache(),
      );
      const input = (blob: unknown) => certInput(certs.clientCert, 'PUT', '/files/1', { context: { blob } });
      t.match(await policy.evaluate(input(plain())), { allow: true }, 'the plain value is allowed');
      t.match(await policy.evaluate(input(other())), { allow: false }, 'the other value is decided on its own');
    });
  }
}
