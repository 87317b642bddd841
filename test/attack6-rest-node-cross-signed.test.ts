// Attack: REST on node:https (authorizeRequest, lib/http/peer.ts knownChain -> shownChain) still
// judges node's display chain whenever it ends in a self-signed certificate whose links verify by
// signature. An intermediate key certified by two roots (cross-signing, as in a root migration)
// gives two real certificates of the same name and key. The server trusts the new root and the
// intermediate it certified; a client presents its leaf plus the intermediate certified by the old
// root and the old (self-signed, no longer trusted) root itself. OpenSSL verifies the leaf through
// the store (trusted first: the new intermediate, the new root), but node shows [leaf, old
// intermediate, old root]: every link is signed by the next, it ends self-signed, so REST takes it
// as the chain (and remembers it as the leaf's verified chain for the trust). A fleet's revocation
// of the new root or of the new intermediate then refuses the client that presents its leaf alone,
// while the same client padding its Certificate message with the old pair is still served.
//
// The fix: on node:https take a display chain only when its top is a trust anchor of the server's
// store (the same certificate, by DER, among the CAs the socket's context trusts), else verify the
// leaf with the library's own verifier (a SecureContext built from the server's ca, as the attached
// tier does) and judge the chain it builds; never remember a chain whose anchor the store lacks.
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { OpensslWorkspace } from './helpers/openssl-ca';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

interface Pki {
  oldTrust: string;
  newTrust: string;
  oldRoot: string;
  oldIntermediate: string;
  newRoot: string;
  newIntermediate: string;
  leaf: string;
  leafKey: string;
}

/** Two roots; one intermediate key certified by each (same name, same key); a leaf of that key. */
function makePki(t: Test): Pki {
  const ws = new OpensslWorkspace(t);
  const ca = ['-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'];
  const oldRoot = ws.ca('r1', '-subj', '/CN=attack6 old root', ...ca);
  const newRoot = ws.ca('r2', '-subj', '/CN=attack6 new root', ...ca);
  ws.run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'i.key');
  ws.run('req', '-new', '-key', 'i.key', '-subj', '/CN=attack6 intermediate', '-out', 'i.csr');
  ws.write('i.ext', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n');
  for (const [root, out, serial] of [
    ['r1', 'i1.pem', '101'],
    ['r2', 'i2.pem', '202'],
  ]) {
    ws.run(
      'x509',
      '-req',
      '-in',
      'i.csr',
      '-CA',
      `${root}.pem`,
      '-CAkey',
      `${root}.key`,
      '-set_serial',
      serial!,
      '-days',
      '2',
      '-extfile',
      'i.ext',
      '-out',
      out!,
    );
  }
  ws.run(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'leaf.key',
    '-subj',
    '/CN=alice',
    '-out',
    'leaf.csr',
  );
  ws.write('leaf.ext', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  ws.run(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'i1.pem',
    '-CAkey',
    'i.key',
    '-set_serial',
    '303',
    '-days',
    '1',
    '-extfile',
    'leaf.ext',
    '-out',
    'leaf.pem',
  );
  const oldIntermediate = ws.read('i1.pem');
  const newIntermediate = ws.read('i2.pem');
  return {
    oldTrust: oldRoot + oldIntermediate,
    newTrust: newRoot + newIntermediate,
    oldRoot,
    oldIntermediate,
    newRoot,
    newIntermediate,
    leaf: ws.read('leaf.pem'),
    leafKey: ws.read('leaf.key'),
  };
}

async function serve(t: Test, guard: SerialGuard, ca: string): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const server = https.createServer(
    { key: certs.serverKey, cert: certs.serverChain, ca, requestCert: true, rejectUnauthorized: true },
    authz.node((_req, res) => res.end('ok')),
  );
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

t.test('REST on node:https judges the chain the store verified, not a cross-signed one the client shows', async (t) => {
  const pki = makePki(t);
  for (const [name, serial] of [
    ['new root', new X509Certificate(pki.newRoot).serialNumber],
    ['new intermediate', new X509Certificate(pki.newIntermediate).serialNumber],
  ] as const) {
    await t.test(`a revoked ${name}`, async (t) => {
      const guard = new SerialGuard();
      const port = await serve(t, guard, pki.newTrust);
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
});
