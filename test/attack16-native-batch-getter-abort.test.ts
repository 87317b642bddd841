// Attack: SecureContext::VerifyChains (native/secure_context.cc) reads its items with
// Napi::Array::Get, which runs JavaScript (an index getter). When that getter throws, the first
// Get leaves the exception pending; the method then goes on to build and throw its own
// ERR_CTLS_INVALID_OPTION (an item that is "not a pair"), and napi_throw with an exception already
// pending is fatal in node-addon-api without C++ exceptions: "FATAL ERROR:
// Error::ThrowAsJavaScriptException napi_throw" and SIGABRT, the whole process gone. The brief
// asks that malformed input to verifyChains, reachable only through internals, never crash; the
// one-chain verifyChain() and the chain lists of verifyChains already survive the same getter (they
// just throw it), so only the item and pair reads are broken.
//
// The fix: after each Get in VerifyChains, return at once when an exception is pending
// (env.IsExceptionPending()), before throwing anything of its own.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

/** Runs in a child: an abort there must fail this test, not end the runner. */
const script = (where: string): string => `
const { X509Certificate } = require('node:crypto');
const { contextHandle, createSecureContext } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
const certs = JSON.parse(process.env.CERTS);
const context = createSecureContext({ ca: certs.ca }, true);
const handle = contextHandle(context);
const der = certs.clientChain
  .match(/-----BEGIN CERTIFICATE-----[\\s\\S]*?-----END CERTIFICATE-----/g)
  .map((pem) => new X509Certificate(pem).raw);
const hostile = (rest) => {
  const list = [];
  Object.defineProperty(list, 0, { enumerable: true, get() { throw new Error('getter says no'); } });
  rest.forEach((value, i) => (list[i + 1] = value));
  return list;
};
const where = ${JSON.stringify(where)};
try {
  const items = where === 'item' ? hostile([[der, 'sslclient']]) : [hostile(['sslclient'])];
  const answer = handle.verifyChains(items, 2);
  Promise.resolve(answer).then(() => console.log('returned'), (error) => console.log('rejected ' + error.message));
} catch (error) {
  console.log('threw ' + error.message);
}
`;

for (const where of ['item', 'pair']) {
  t.test(`verifyChains whose ${where} getter throws throws, and the process lives`, async (t) => {
    const child = spawnSync(process.execPath, ['-e', script(where)], {
      env: { ...process.env, CERTS: JSON.stringify(certs) },
      encoding: 'utf8',
      timeout: 30_000,
    });
    t.equal(child.signal, null, `the process survives (signal ${child.signal ?? 'none'})`);
    t.equal(child.status, 0, 'and exits normally');
    t.match(child.stdout, /^(threw|rejected|returned)/m, 'the call is refused or harmless');
    t.notMatch(child.stderr, /FATAL ERROR/, 'no fatal error from node-addon-api');
  });
}
