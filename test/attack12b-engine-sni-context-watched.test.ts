// Attack: an owned server whose SNICallback builds a SecureContext per connection (or keeps a
// bounded LRU of per-tenant contexts, as on-demand certificate servers do) lets every client pick a
// new server name. Each connection served with such a context makes the engine watch that context
// (Authorizer#watch: `#watched.set(trust, trust.onTrustChange(...))`), and nothing unwatches it when
// the last connection served with it closes: only Authorizer.close() clears the map. Every context
// (its native SSL_CTX, certificate store, CRLs, remembered chains) then lives as long as the server,
// so a client that opens connections with fresh server names grows the server's memory without
// bound, long after the app itself dropped those contexts.
//
// A correct library stops watching a context once no tracked connection is served with it (or
// holds it weakly), so a context the app dropped is collected once its connections are gone.
//
// Attack class: exhaustion (state that survives its owner; per-peer growth).
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createSecureContext, type SecureContext } from '../dist/index.js';
import { codeOf, connectPair, makePki, mtlsOptions, startServer, delay } from './helpers/mtls';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

t.test('contexts an SNICallback made per connection are released once their connections close', async (t) => {
  const pki = await makePki();
  const made: Array<WeakRef<SecureContext>> = [];
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      SNICallback: (_name, callback) => {
        const context = createSecureContext({ key: pki.server.key, cert: pki.server.chain, ca: pki.ca.rootCert }, true);
        made.push(new WeakRef(context));
        callback(null, context);
      },
    }),
  );

  const ROUNDS = 20;
  for (let i = 0; i < ROUNDS; i++) {
    const pair = await connectPair(t, server, port, pki);
    pair.client.destroy();
    pair.socket.destroy();
  }
  await delay(100);
  t.equal(server.authorizer.connectionCount, 0, 'no connection is tracked any more');
  for (let i = 0; i < 5; i++) {
    gc();
    await delay(10);
  }
  const alive = made.filter((ref) => ref.deref() !== undefined).length;
  t.equal(made.length, ROUNDS, 'the SNICallback made one context per connection');
  t.ok(alive <= 2, `the dropped contexts are collected (${alive} of ${ROUNDS} still alive)`);
});

// The fix lets a context go with its last connection; one the app keeps and serves again must be
// followed again: a CRL set on it afterwards still cuts the connection it now serves.
t.test('a context served again after its connections closed is followed again', async (t) => {
  const pki = await makePki();
  const tenant = createSecureContext({ key: pki.server.key, cert: pki.server.chain, ca: pki.ca.rootCert }, true);
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { SNICallback: (_name, callback) => callback(null, tenant) }),
  );
  const first = await connectPair(t, server, port, pki);
  first.client.destroy();
  first.socket.destroy();
  await delay(50);
  t.equal(server.authorizer.connectionCount, 0);

  const second = await connectPair(t, server, port, pki);
  t.equal(second.socket.secureContext, tenant, 'served with the tenant context');
  pki.ca.revoke(pki.client.serial);
  const cut = new Promise((resolve) => second.socket.once('close', resolve));
  tenant.setCrl(await pki.ca.crls());
  await cut;
  t.equal(codeOf(second.socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED', 'the revocation on the tenant context cut it');
});
