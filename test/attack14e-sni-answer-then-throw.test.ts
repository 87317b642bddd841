// Attack: an SNICallback that answers and then throws (it hands back a context, then its own
// bookkeeping, logging or a later lookup on the same stack fails). The contract says a callback
// that throws, whatever it throws, fails the connection. askSniCallback() marks the callback as
// answered at its first answer and then swallows the throw (`if (answered) return`): the handshake
// goes on under the context of a callback that failed, and the client is admitted as if nothing
// had gone wrong; the app's failure is not even reported.
// A correct library fails that connection (the callback threw), exactly as it does for a throw
// before any answer, and never admits a client on the answer of a failed callback.
// Attack class: app callback misuse / swallowed error (fail-open).
import t from 'tap';
import { createSecureContext } from '../dist/index.js';
import { certs } from './helpers/certs';
import { sniAdmits } from './helpers/owned-sni';

t.test('an SNICallback that answers and then throws fails the connection', async (t) => {
  let threw = false;
  const context = createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca }, true);
  const admitted = await sniAdmits(t, (_name, cb) => {
    cb(null, context);
    threw = true;
    throw new Error('the callback failed after answering');
  });
  t.equal(threw, true, 'the callback ran and threw');
  t.equal(admitted, false, 'a connection whose SNICallback threw is not admitted');
});

t.test('control: an SNICallback that answers once admits the client', async (t) => {
  const context = createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca }, true);
  t.equal(await sniAdmits(t, (_name, cb) => cb(null, context)), true);
});
