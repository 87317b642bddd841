// Attack: an SNICallback that answers twice (a cache answer followed by a fetched one, an error
// path that also falls through to the success path). node:tls destroys such a connection
// (ERR_MULTIPLE_CALLBACK): the handshake must go on under one context only. askSniCallback()
// forwards every answer: the second one swaps the context (setContext) after the handshake went on
// under the first, and becomes the trust the connection is verified and re-checked under. With a
// first answer whose CA does not trust the client and a second (stale, wider) one that does, the
// client is admitted although the context picked for the name refuses it.
// A correct library takes the first answer only and fails the connection on a second one, as node.
// Attack class: app callback misuse / trust confusion (fail-open, divergence from node:tls).
import t from 'tap';
import { createSecureContext } from '../dist/index.js';
import { certs } from './helpers/certs';
import { sniAdmits } from './helpers/owned-sni';

t.test('an SNICallback answering twice does not let its second context decide', async (t) => {
  const strict = createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.wrongCa }, true);
  const wide = createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca }, true);
  const admitted = await sniAdmits(
    t,
    (_name, cb) => {
      cb(null, strict);
      cb(null, wide);
    },
    certs.wrongCa,
  );
  t.equal(admitted, false, 'a client the first answer refuses is not admitted under the second');
});
