// Attack: with continuous-tls loaded, tls.createSecureContext() throws a TypeError for any options
// object whose `ca` (or `crl`) array is a read-only, non-configurable property: Object.freeze()d
// configuration (common for shared TLS settings), or one made with Object.defineProperty. The
// wrapper in lib/http/node-context-cas.ts hands node a Proxy over the caller's options whose get
// trap answers a *copy* of the array; a Proxy must answer a frozen data property's own value, so
// node's first read of `ca` throws ("'get' on proxy: property 'ca' is a read-only and
// non-configurable data property ..."). Without the library the same call succeeds (Node 20, 22
// and 24 alike), so importing continuous-tls/http breaks an app's SNI contexts and servers at
// startup (server.addContext() passes the app's options object to it as given; contexts made per
// SNI name fail at a handshake).
//
// The fix: when the target's `ca`/`crl` is a non-writable, non-configurable own data property,
// hand node that very value (the wrapper read it already, and it cannot change: the record and
// node agree) or hand node a plain object copy instead of a Proxy (Object.create(null) with the
// own enumerable properties read once, getters' `this` kept by reading them from the target).
import t from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';

t.test('frozen options with a ca array make a context, as they do without the library', async (t) => {
  const options = Object.freeze({ key: certs.serverKey, cert: certs.serverChain, ca: [certs.ca] });
  t.doesNotThrow(() => tls.createSecureContext(options), 'a frozen ca array');
});

t.test('server.addContext() with frozen options, which node hands to createSecureContext as given', async (t) => {
  const server = https.createServer({ key: certs.serverKey, cert: certs.serverChain });
  const tenant = Object.freeze({ key: certs.serverKey, cert: certs.serverChain, ca: Object.freeze([certs.ca]) });
  t.doesNotThrow(
    () => server.addContext('tenant.localhost', tenant as unknown as tls.SecureContextOptions),
    'a frozen tenant configuration',
  );
});

t.test('a non-configurable crl array too', async (t) => {
  const options = { ca: certs.ca };
  Object.defineProperty(options, 'crl', { value: [], enumerable: true, writable: false, configurable: false });
  t.doesNotThrow(() => tls.createSecureContext(options), 'a read-only crl list');
});
