// Attack: every error the addon raises is built by CodedError()/OpenSSLError() (native/openssl_util.cc),
// which give it its `code` with Napi::Object::Set. Set is an ordinary [[Set]]: an accessor that app
// code left on Object.prototype (or Error.prototype) runs there. When that setter throws, its
// exception is left pending, and the caller's next step, error.ThrowAsJavaScriptException(), finds
// an exception already pending: node-addon-api (C++ exceptions off, with or without
// NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS) makes that
//   FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw
// and aborts the whole process (SIGABRT), every worker and connection with it. Reached through the
// public API by any call the addon refuses: here createSecureContext() with a CA that is not PEM,
// which must throw ERR_CTLS_BAD_PEM (or the setter's error), never abort. The same happens in
// SecureContext::SetTrust's "option" Set, verifyChain()'s refusals, requestCertificate() against a
// client that offered no post-handshake auth (a peer's choice), setIdentity() with bad PEM, ...
// Same on Node 22 and 24.
//
// The fix: give result and error objects their properties with define semantics
// (napi_define_properties / Object::DefineProperty), never [[Set]], and never call
// ThrowAsJavaScriptException() while env.IsExceptionPending() (return instead).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dist = join(__dirname, '..', 'dist');

const script = `
const { createSecureContext } = require(${JSON.stringify(join(dist, 'index.js'))});
Object.defineProperty(Object.prototype, 'code', {
  configurable: true,
  set() { throw new Error('app setter refused'); },
});
let outcome = 'returned';
try {
  createSecureContext({ ca: '-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n' });
} catch (error) {
  outcome = 'threw';
}
process.stdout.write('alive: ' + outcome);
`;

t.test('an app setter on Object.prototype.code that throws cannot abort the process', async (t) => {
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.equal(child.signal, null, `no signal (got ${child.signal ?? 'none'})`);
  t.notMatch(child.stderr, /FATAL ERROR/, 'no fatal error from node-addon-api');
  t.equal(child.stdout, 'alive: threw', 'the bad CA is refused with an exception the caller can catch');
});
