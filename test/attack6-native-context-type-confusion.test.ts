// Attack: SecureContext::Unwrap (native/secure_context.cc) takes any object napi_unwrap answers
// for, and napi_unwrap answers for every ObjectWrap, whatever its class. TlsConnection#setContext
// (and the TlsConnection constructor) therefore accept a TlsConnection handle as a SecureContext:
// the connection's memory is then read as a SecureContext (its TrustState, its decoded-certificate
// map). Here a server connection is given another connection (or itself) as its SNI context; the
// next handshake that reaches certificate verification kills the process with SIGSEGV instead of an
// ERR_CTLS_INVALID_OPTION. It is the class write()/send() were fixed for (a JS value the native
// side trusts without checking), through the entry points that take a context.
//
// The fix: tag SecureContext wrappers when they are made (napi_type_tag_object with a tag of
// their own) and have SecureContext::Unwrap refuse an object without that tag
// (napi_check_object_type_tag) before napi_unwrap; likewise for any other wrapper the addon
// unwraps. setContext and the constructor then throw ERR_CTLS_INVALID_OPTION.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

/** Runs in a child: a segfault there must fail this test, not end the runner. */
const script = (target: 'other' | 'self'): string => `
const { native } = require(${JSON.stringify(join(dist, 'tls', 'native.js'))});
const { contextHandle, createSecureContext } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
const certs = JSON.parse(process.env.CERTS);
const serverContext = createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca }, true);
const clientContext = createSecureContext({ ca: certs.ca, key: certs.clientKey, cert: certs.clientChain }, false);
const server = new native.TlsConnection(contextHandle(serverContext), true, { requestCert: true });
const client = new native.TlsConnection(contextHandle(clientContext), false, { servername: 'localhost' });
const other = new native.TlsConnection(contextHandle(clientContext), false, { servername: 'localhost' });
try {
  server.setContext(${target === 'self' ? 'server' : 'other'});
  let toServer = client.cycle()[1];
  for (let i = 0; i < 10 && toServer !== null; i++) {
    const toClient = server.cycle(toServer)[1];
    toServer = toClient === null ? null : client.cycle(toClient)[1];
  }
  console.log('returned');
} catch (error) {
  console.log('threw ' + error.code);
}
`;

for (const target of ['other', 'self'] as const) {
  t.test(
    `setContext given a TlsConnection (${target}) instead of a SecureContext fails with a coded error`,
    async (t) => {
      const child = spawnSync(process.execPath, ['-e', script(target)], {
        env: { ...process.env, CERTS: JSON.stringify(certs) },
        encoding: 'utf8',
        timeout: 30_000,
      });
      t.equal(child.signal, null, `the process survives (signal ${child.signal ?? 'none'})`);
      t.equal(child.status, 0, 'and exits normally');
      t.match(child.stdout, /^threw ERR_CTLS_INVALID_OPTION$/m, 'the context is refused');
    },
  );
}

t.test('the constructor given a TlsConnection instead of a SecureContext refuses it as such', async (t) => {
  const child = spawnSync(
    process.execPath,
    [
      '-e',
      `
const { native } = require(${JSON.stringify(join(dist, 'tls', 'native.js'))});
const { contextHandle, createSecureContext } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
const certs = JSON.parse(process.env.CERTS);
const context = createSecureContext({ key: certs.serverKey, cert: certs.serverChain }, true);
const server = new native.TlsConnection(contextHandle(context), true, {});
try {
  new native.TlsConnection(server, false, { servername: 'localhost' });
  console.log('returned');
} catch (error) {
  console.log('threw ' + error.code);
}
`,
    ],
    { env: { ...process.env, CERTS: JSON.stringify(certs) }, encoding: 'utf8', timeout: 30_000 },
  );
  t.equal(child.signal, null, `the process survives (signal ${child.signal ?? 'none'})`);
  t.match(child.stdout, /^threw ERR_CTLS_INVALID_OPTION$/m, 'refused as not a SecureContext (not read as one)');
});
