// Attack: node walks an array `ca` with Array.prototype.forEach, which skips holes, so
// `ca: sparse` (CAs kept by tenant or slot index, an entry deleted on rotation) makes a context.
// The library's tls.createSecureContext wrapper (lib/http/node-context-cas.ts itemsOf) copies the
// array by index into a dense one, turning each hole into an explicit undefined that node then
// rejects: with continuous-tls/http imported, https.createServer(), setSecureContext() and
// addContext() throw ERR_INVALID_ARG_TYPE for options they accepted before.
//
// The fix: copy the array as node walks it (skip holes: `index in value`), or hand node the
// caller's array when every item read is what node will read, recording the same items.
import t from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';

t.test('a sparse ca array, which node accepts, still makes a context', async (t) => {
  const ca: string[] = [];
  ca[0] = certs.ca;
  ca[2] = certs.wrongCa;
  t.doesNotThrow(() => tls.createSecureContext({ ca }), 'tls.createSecureContext({ ca })');
  t.doesNotThrow(() => {
    const server = https.createServer({ key: certs.serverKey, cert: certs.serverChain, ca, requestCert: true });
    server.close();
  }, 'https.createServer({ ..., ca })');
});
