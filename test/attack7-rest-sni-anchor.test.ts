// Attack: REST on node:https trusted node's display chain unchecked whenever it could not read the
// CAs that verified the client: a context an SNICallback returned or server.addContext() made. The
// server trusts the new root and the
// intermediate it certified; a client presents its leaf plus the same intermediate key certified by
// an old root, and that old self-signed root. OpenSSL verifies through the store (new intermediate,
// new root), node shows [leaf, old intermediate, old root], every link verifies and it ends
// self-signed: REST judged it, and a fleet's revocation of the new root or intermediate did not
// reach the padded client (the leaf alone is refused).
//
// Fixed: the library records the `ca` of every context made with tls.createSecureContext (node's
// createServer, setSecureContext and addContext make theirs with it) and verifies what node shows
// under the CAs of the context that verified the client (lib/http/node-context-cas.ts). A context
// whose CAs it cannot learn gets a coded warning, and the chain node shows is judged as before.
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
  // The context chosen for the name trusts `ca`; the server's own `ca` is another PKI's, so a
  // library that judged by it would find no chain at all.
  const identity = { key: certs.serverKey, cert: certs.serverChain, ca };
  const context = tls.createSecureContext(identity);
  const server = https.createServer(
    {
      ...identity,
      ca: certs.ca,
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
  'REST on node:https judges the chain the CAs of the verifying context build, not one the client shows',
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

t.test('a context whose CAs the library cannot learn is named in a coded warning, once', async (t) => {
  const pki = crossSignedPki(t, 'attack7-unknown');
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    if ((warning as { code?: string }).code === 'ERR_CTLS_CLIENT_CAS_UNKNOWN') warnings.push(warning);
  };
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  // CAs added to the SNI context's native store after it was made: node verifies with them, and
  // nothing the library can read says so.
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const context = tls.createSecureContext(identity);
  (context as unknown as { context: { addCACert(pem: string): void } }).context.addCACert(pki.newTrust);
  const server = https.createServer(
    {
      ...identity,
      ca: certs.ca,
      requestCert: true,
      rejectUnauthorized: true,
      SNICallback: (_name: string, done: (error: Error | null, context: tls.SecureContext) => void) =>
        done(null, context),
    },
    authz.node((_req, res) => res.end('ok')),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  // Sent whole: node shows a chain that reaches a root, which is what is judged without the CAs.
  const whole = pki.leaf + pki.newIntermediate + pki.newRoot;
  t.equal(await request(t, port, pki.leafKey, whole), 200, 'the request is judged on what node shows');
  t.equal(await request(t, port, pki.leafKey, whole), 200, 'and so is the next one');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(warnings.length, 1, 'one warning for the context');
  t.match(warnings[0]!.message, /pad/, 'saying what the client can do');
});
