// Attack: REST on node:https (authorizeRequest, lib/http/peer.ts knownChain -> shownChain) judges the
// chain node's getPeerCertificate(true) shows. node links that chain by name and key identifier
// (X509_check_issued: no signature check) among the certificates the client presented, before it
// looks in the server's CA store. A client whose leaf was issued by a store intermediate appends a
// self-signed certificate of its own making that carries the intermediate's subject and subject
// key identifier: OpenSSL's handshake verification (trusted first) ignores it and verifies the leaf
// through the real intermediate, but node shows [leaf, forged], which ends in a self-signed
// certificate and so counts as complete. The guards of authorizeRequest then judge the forged
// certificate instead of the intermediate the handshake stood on: a fleet's revocation of that
// intermediate (or of the root) refuses the plain client and lets the padded one through, and the
// forged chain is remembered as the leaf's verified chain for its resumptions.
// The chain's window is the forged certificate's too, so REST also outlives the real intermediate's
// expiry on a keep-alive connection. (Node lines that drop a client's presented intermediates before
// any listener runs, see lib/tls/node-peer.ts, show the store's completion instead and pass.)
//
// The fix: a link of node's display chain counts only when the issuer's key verifies the
// certificate's signature; a chain broken that way is not established, and the request is refused
// (certificate-chain-unknown) unless a verified chain is remembered for the leaf.
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
import { pemChain, waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

const [, intermediate] = pemChain(certs.clientChain);
const root = new X509Certificate(certs.ca);

/** A self-signed certificate named like the intermediate, with its subject key identifier. */
function lookalike(t: Test): string {
  const ws = new OpensslWorkspace(t);
  ws.write('intermediate.pem', intermediate!.toString());
  const printed = ws.run('x509', '-in', 'intermediate.pem', '-noout', '-ext', 'subjectKeyIdentifier');
  const ski = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(printed)![1]!;
  return ws.ca(
    'lookalike',
    '-subj',
    `/CN=${intermediate!.subject.replace(/^CN=/, '')}`,
    '-days',
    '2',
    '-addext',
    `subjectKeyIdentifier=${ski}`,
    // No authority key identifier: node then takes it for self-issued, so the chain looks complete.
    '-addext',
    'authorityKeyIdentifier=none',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
}

async function serve(t: Test, guard: SerialGuard): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const server = https.createServer(
    // The intermediate is in the server's store: clients present their leaf.
    { key: certs.serverKey, cert: certs.serverChain, ca: certs.caChain, requestCert: true, rejectUnauthorized: true },
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
async function request(t: Test, port: number, cert: string): Promise<number | 'closed'> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert,
  });
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

for (const [name, serial] of [
  ['store intermediate', intermediate!.serialNumber],
  ['root', root.serialNumber],
] as const) {
  t.test(`REST on node:https: a revoked ${name} refuses a client that appends a look-alike issuer`, async (t) => {
    const forged = lookalike(t);
    const guard = new SerialGuard();
    const port = await serve(t, guard);
    t.equal(await request(t, port, certs.clientCert), 200, 'the plain client is served before the revocation');
    // The look-alike breaks the chain node shows (its key does not verify the leaf), so the padded
    // client is judged on the chain remembered for its leaf at the plain client's full handshake.
    const before = await request(t, port, certs.clientCert + forged);
    t.equal(before, 200, `the padded client is served on its leaf's remembered chain (${before})`);
    guard.revoke(serial);
    const plain = await request(t, port, certs.clientCert);
    t.not(plain, 200, `without the look-alike the request is refused (${plain})`);
    const padded = await request(t, port, certs.clientCert + forged);
    t.not(padded, 200, `with it the request is refused too (${padded})`);
  });
}
