// Attack: REST on node:https (lib/http/peer.ts anchoredInServer) trusts node's display chain
// unchecked whenever an SNI context was chosen for the socket (handle.sni_context is set): the
// anchor check answers true there. So the cross-signed padding of the attack6 test works again on
// any node:https server with an SNICallback or a server.addContext() name, and the client decides
// that: it only has to send the server name. The server trusts the new root and the intermediate
// it certified; a client presents its leaf plus the same intermediate key certified by an old root,
// and that old self-signed root. OpenSSL verifies through the store (new intermediate, new root),
// node shows [leaf, old intermediate, old root], every link verifies and it ends self-signed: REST
// judges it, and a fleet's revocation of the new root or intermediate does not reach the padded
// client (the leaf alone is refused).
//
// Status: open (the test is marked todo). Without an SNI context the library now verifies the chain
// itself under the server's CAs (attack6, attack7-rest-node-*). With one, node shows neither the
// context's CAs nor the chain OpenSSL verified, and REST judges node's display chain (links checked
// by signature). Suggested fix: learn an SNI context's CAs from what the library can see (a
// SecureContext of this library, or options passed through a helper), else expose OpenSSL's
// verified chain of a node:tls socket; never a client-presented anchor.
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

/** How the server picks the context for a name: an app's SNICallback, or node's own addContext(). */
type Sni = 'SNICallback' | 'addContext';

async function serve(t: Test, guard: SerialGuard, ca: string, sni: Sni): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  // The context chosen for the name trusts exactly what the server's own does.
  const identity = { key: certs.serverKey, cert: certs.serverChain, ca };
  const context = tls.createSecureContext(identity);
  const server = https.createServer(
    {
      ...identity,
      requestCert: true,
      rejectUnauthorized: true,
      ...(sni === 'SNICallback' && {
        SNICallback: (_name: string, done: (error: Error | null, context: tls.SecureContext) => void) =>
          done(null, context),
      }),
    },
    authz.node((_req, res) => res.end('ok')),
  );
  if (sni === 'addContext') server.addContext('localhost', identity);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/** GET / over a new connection presenting `cert`: the status, or 'closed'. */
async function request(t: Test, port: number, key: string, cert: string): Promise<number | 'closed'> {
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, key, cert });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
  return Promise.race([
    rawHttp(client)('GET', '/').then(
      (reply) => reply.status,
      () => 'closed' as const,
    ),
    closed,
  ]);
}

t.test(
  'REST on an SNI node:https server judges the chain the store verified, not one the client shows',
  {
    todo:
      'open: node shows neither the CAs of a context an SNICallback or addContext() chose nor the chain ' +
      'OpenSSL verified; see docs/security.md (REST and policies)',
  },
  async (t) => {
    const pki = crossSignedPki(t, 'attack7');
    for (const [name, serial] of [
      ['new root', new X509Certificate(pki.newRoot).serialNumber],
      ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
    ] as const) {
      for (const sni of ['SNICallback', 'addContext'] as const)
        await t.test(`a revoked ${name}, the context chosen by ${sni}`, async (t) => {
          const guard = new SerialGuard();
          const port = await serve(t, guard, pki.newTrust, sni);
          const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
          t.equal(await request(t, port, pki.leafKey, pki.leaf), 200, 'the leaf alone is served before the revocation');
          t.equal(await request(t, port, pki.leafKey, padded), 200, 'so is the padded client');
          guard.revoke(serial);
          const plain = await request(t, port, pki.leafKey, pki.leaf);
          t.not(plain, 200, `after it the leaf alone is refused (${plain})`);
          const after = await request(t, port, pki.leafKey, padded);
          t.not(after, 200, `and so is the client padding with the old cross-signed pair (${after})`);
        });
    }
  },
);
