// Attack (malformed input, crash): SecureContext::VerifyChains (native/secure_context.cc) calls
// `chains.reserve(items.Length())` before reading a single item. A sparse array costs JavaScript
// nothing (`items.length = 2 ** 32 - 1`), but the reserve asks for 2^32 BatchChain slots (about
// 137 GB): operator new throws std::bad_alloc, the addon is built without C++ exceptions, so
// std::terminate aborts the whole process ("terminate called after throwing an instance of
// 'std::bad_alloc'", SIGABRT). Review 16 fixed the getter-abort on the same input path
// (test/attack16-native-batch-getter-abort.test.ts) but the length itself is still trusted; the
// first item of such an array is a hole, which the method rejects anyway with
// ERR_CTLS_INVALID_OPTION, had it not reserved first. verifyChain() (one chain) does not reserve and
// survives the same array.
//
// The same trust in a length hangs the event loop: a sparse presented list (`[[list, 'sslclient']]`
// with `list.length = 2 ** 32 - 1`) is walked hole by hole, 2^32 napi_get_element calls on the main
// thread (minutes; the second test gives it 2.5 s where a refusal takes microseconds).
//
// The fix: do not reserve from an untrusted length (or cap it, e.g. at the batch limit of 10,000
// chains, and refuse longer inputs with a coded error); the same applies to the per-chain lists,
// whose loops also run 2^32 times over the holes of a sparse `presented` array.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dist = join(__dirname, '..', 'dist');

const script = `
const { contextHandle, createSecureContext } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
const handle = contextHandle(createSecureContext({}, true));
const items = [];
items.length = 2 ** 32 - 1;
try {
  const answer = handle.verifyChains(items, 2);
  Promise.resolve(answer).then(() => console.log('returned'), (error) => console.log('rejected ' + error.message));
} catch (error) {
  console.log('threw ' + error.message);
}
`;

t.test('verifyChains given a sparse array of length 2^32-1 is refused, and the process lives', async (t) => {
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  t.equal(child.signal, null, `the process survives (signal ${child.signal ?? 'none'})`);
  t.equal(child.status, 0, 'and exits normally');
  t.match(child.stdout, /^(threw|rejected|returned)/m, 'the call is refused or harmless');
  t.notMatch(child.stderr, /bad_alloc|terminate called/, 'no uncaught C++ exception');
});

t.test('verifyChains given a sparse chain list of length 2^32-1 answers at once', async (t) => {
  const hang = `
const { contextHandle, createSecureContext } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
const handle = contextHandle(createSecureContext({}, true));
const presented = [];
presented.length = 2 ** 32 - 1;
try {
  const answer = handle.verifyChains([[presented, 'sslclient']], 2);
  Promise.resolve(answer).then(() => console.log('returned'), (error) => console.log('rejected ' + error.message));
} catch (error) {
  console.log('threw ' + error.message);
}
`;
  const child = spawnSync(process.execPath, ['-e', hang], { encoding: 'utf8', timeout: 2_500, killSignal: 'SIGKILL' });
  t.equal(child.signal, null, `the call returns within 2.5 s (killed by ${child.signal ?? 'nothing'})`);
  t.match(child.stdout, /^(threw|rejected|returned)/m, 'the call is refused or harmless');
});
