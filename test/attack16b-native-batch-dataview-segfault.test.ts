// Attack (malformed input, crash; a budget taken between reserve and queue): SecureContext::
// VerifyChains (native/secure_context.cc) accepts a chain item when `item.IsBuffer()`, which is
// true for any ArrayBufferView (napi_is_buffer), then reads it with Napi::Buffer::Data(), whose
// napi_get_buffer_info refuses a DataView (napi_invalid_arg). node-addon-api, without C++
// exceptions, throws "Invalid argument" into JavaScript and returns, and VerifyChains carries on
// as if nothing were pending: the review-16 fix checks for a pending exception only after each
// Array::Get. VerifyChainsInBackground then reserves the batch's threads and builds the Batch,
// whose Promise::Deferred cannot be created with an exception pending (napi_create_promise fails,
// the deferred stays null), and queues the workers. The caller sees the throw; the workers run,
// and the last one's Finish() calls napi_resolve_deferred on the null deferred: SIGSEGV, the whole
// process gone, within milliseconds. (Before that, the threads the batch reserved are held by a
// batch nobody can see.) verifyChain(), the one-chain method, reads the same way but returns at
// once, so it only throws.
//
// The fix: after reading each Buffer (and before ReserveThreads), return when an exception is
// pending; accept only what napi_get_buffer_info accepts (or read ArrayBufferViews through
// napi_get_typedarray_info / napi_get_dataview_info); and never queue a batch whose deferred is
// not valid (reserve the threads last, after everything that can fail).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dist = join(__dirname, '..', 'dist');

const script = `
const { contextHandle, createSecureContext } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
const handle = contextHandle(createSecureContext({}, true));
const items = Array.from({ length: 8 }, () => [[new DataView(new ArrayBuffer(4))], 'sslclient']);
try {
  const answer = handle.verifyChains(items, 2);
  Promise.resolve(answer).then(() => console.log('returned'), (error) => console.log('rejected ' + error.message));
} catch (error) {
  console.log('threw ' + error.message);
}
// Long enough for the batch's workers to finish; then the budget must be whole again.
setTimeout(() => {
  const next = handle.verifyChains([[[Buffer.from('30', 'hex')], 'sslclient']], 2);
  console.log(next === undefined ? 'no budget' : 'budget back');
}, 500);
`;

t.test('verifyChains given a DataView as a certificate refuses it, and the process lives', async (t) => {
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  t.equal(child.signal, null, `the process survives (signal ${child.signal ?? 'none'})`);
  t.equal(child.status, 0, 'and exits normally');
  t.match(child.stdout, /^(threw|rejected|returned)/m, 'the call is refused or harmless');
  t.match(child.stdout, /^budget back$/m, 'and a later batch finds its threads');
});
