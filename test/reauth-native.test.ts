// The re-authentication machinery under the policy engine: a server asks the live client for a
// certificate (TLS 1.3 post-handshake auth, TLS 1.2 renegotiation), the client answers with its
// current identity, and every way this can fail has its own code.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import type * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import type { Server, ServerOptions } from '../dist/server.js';
import type { ConnectOptions } from '../dist/client.js';
import { certs } from './helpers/certs';
import { listen, waitFor, closed, SOON } from './helpers/owned';

type CodedError = Error & { code?: string; verifyError?: string };

const VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const;
const serverOptions: ServerOptions = { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true };

async function startServer(t: Test, options: Partial<ServerOptions> = {}): Promise<{ server: Server; port: number }> {
  const server = createServer({ ...serverOptions, ...options });
  const port = await listen(t, server);
  return { server, port };
}

/** Connects our client and resolves with both ends once secure. */
async function ourPair(
  server: Server,
  port: number,
  options: Partial<ConnectOptions> = {},
): Promise<{ client: TLSSocket; peer: TLSSocket }> {
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const client = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ...options,
  });
  t.teardown(() => client.destroy());
  const secure = waitFor(client, 'secureConnect', SOON);
  const [peer] = await accepted;
  await secure;
  // Our client reads what the server sends (the request rides on the read side).
  client.resume();
  return { client, peer };
}

for (const version of VERSIONS) {
  const how = version === 'TLSv1.3' ? 'post-handshake auth' : 'renegotiation';

  t.test(`${version} (${how}): requestCertificate resolves with the verified chain`, async (t) => {
    const { server, port } = await startServer(t, { maxVersion: version });
    const { client, peer } = await ourPair(server, port, { maxVersion: version });
    t.equal(peer.getProtocol(), version);
    const result = await peer.requestCertificate({ timeout: SOON });
    t.equal(result.verified, true);
    t.equal(result.verifyError, undefined);
    t.equal(result.chain[0]!.subject, 'CN=alice');
    t.equal(result.der.length, result.chain.length);
    t.ok(result.chain.length >= 1, 'the presented chain');
    t.equal(peer.authorized, true);
    t.equal(peer.reauthenticating, false, 'the request is over');

    // The connection still carries data both ways afterwards.
    peer.on('data', (data: Buffer) => peer.write(data));
    const echo = waitFor<[Buffer]>(client, 'data', SOON);
    client.write('after');
    t.equal((await echo)[0].toString(), 'after');

    // And it can be asked again.
    const again = await peer.requestCertificate({ timeout: SOON });
    t.equal(again.chain[0]!.subject, 'CN=alice', 'a second request on the same connection');
  });

  t.test(`${version}: concurrent calls share one request`, async (t) => {
    const { server, port } = await startServer(t, { maxVersion: version });
    const { peer } = await ourPair(server, port, { maxVersion: version });
    let requests = 0;
    peer.on('certificate', () => requests++);
    const first = peer.requestCertificate({ timeout: SOON });
    const second = peer.requestCertificate({ timeout: SOON });
    t.equal(first, second, 'the same promise');
    t.equal(peer.reauthenticating, true);
    const [a, b] = await Promise.all([first, second]);
    t.equal(a, b);
    t.equal(requests, 1, 'one certificate exchange');
  });

  t.test(`${version}: setIdentity changes what the client presents next`, async (t) => {
    const { server, port } = await startServer(t, { maxVersion: version });
    const { client, peer } = await ourPair(server, port, { maxVersion: version });
    t.equal((await peer.requestCertificate({ timeout: SOON })).chain[0]!.subject, 'CN=alice');
    client.setIdentity({ key: certs.client2Key, cert: certs.client2Chain });
    const rotated = await peer.requestCertificate({ timeout: SOON });
    t.equal(rotated.chain[0]!.subject, 'CN=bob', 'the new certificate');
    t.equal(rotated.verified, true);
    t.equal(peer.getPeerX509Certificate()?.subject, 'CN=bob', 'the socket reports the new peer certificate');
    t.throws(() => client.setIdentity({ key: 'junk', cert: certs.client2Chain }), { code: 'ERR_CTLS_BAD_PEM' });
  });

  t.test(`${version}: a client answering with a revoked certificate is cut with ERR_CTLS_CERT_VERIFY`, async (t) => {
    const { server, port } = await startServer(t, { maxVersion: version, crl: certs.crl });
    const { client, peer } = await ourPair(server, port, { maxVersion: version });
    client.on('error', () => {});
    peer.on('error', () => {});
    client.setIdentity({ key: certs.clientRevokedKey, cert: certs.clientRevokedChain });
    await t.rejects(peer.requestCertificate({ timeout: SOON }), {
      code: 'ERR_CTLS_CERT_VERIFY',
      verifyError: 'CERT_REVOKED',
    });
    t.equal(peer.authorized, false, 'no longer authorized');
    t.equal(peer.authorizationError, 'CERT_REVOKED');
    await closed(peer);
    await closed(client);
    t.equal(server.connections().length, 0, 'the connection is closed');
  });

  t.test(`${version}: a client without a certificate is cut with ERR_CTLS_NO_PEER_CERTIFICATE`, async (t) => {
    const { server, port } = await startServer(t, { maxVersion: version, requestCert: false });
    const { client, peer } = await ourPair(server, port, { maxVersion: version, key: undefined, cert: undefined });
    client.on('error', () => {});
    peer.on('error', () => {});
    await t.rejects(peer.requestCertificate({ timeout: SOON }), { code: 'ERR_CTLS_NO_PEER_CERTIFICATE' });
    await closed(peer);
  });

  t.test(`${version}: a client that never answers -> ERR_CTLS_REAUTH_TIMEOUT`, async (t) => {
    const { server, port } = await startServer(t, { maxVersion: version });
    const { client, peer } = await ourPair(server, port, { maxVersion: version });
    client.on('error', () => {});
    peer.on('error', () => {});
    // The client stops reading: it never sees the request.
    (client.transport as net.Socket).pause();
    const started = Date.now();
    await t.rejects(peer.requestCertificate({ timeout: 300 }), { code: 'ERR_CTLS_REAUTH_TIMEOUT' });
    const elapsed = Date.now() - started;
    t.ok(elapsed >= 250 && elapsed < 5000, `within the timeout (${elapsed} ms)`);
    await closed(peer);
    t.equal(
      peer.destroyReason && (peer.destroyReason as CodedError).code,
      'ERR_CTLS_REAUTH_TIMEOUT',
      'destroyReason says why',
    );
  });

  t.test(`${version}: data sent while a request is out is held, then delivered in order`, async (t) => {
    const { server, port } = await startServer(t, { maxVersion: version });
    const { client, peer } = await ourPair(server, port, { maxVersion: version });
    const order: string[] = [];
    peer.on('data', (data: Buffer) => order.push(`data:${data.toString()}`));
    peer.on('certificate', () => order.push('certificate'));
    client.write('before;');
    await waitFor(peer, 'data', SOON);

    // The client does not read the request yet, but keeps writing.
    const transport = client.transport as net.Socket;
    transport.pause();
    const request = peer.requestCertificate({ timeout: SOON });
    client.write('during-1;');
    client.write('during-2;');
    await sleep(300);
    t.same(order, ['data:before;'], 'nothing delivered while the request is out');
    t.equal(peer.gateHeld, true, 'the gate is closed');

    transport.resume();
    await request;
    await sleep(50);
    t.equal(order[1], 'certificate', 'the certificate came first');
    t.equal(order.slice(2).join('').replace(/data:/g, ''), 'during-1;during-2;', 'then the held data, in order');
    client.write('after;');
    await waitFor(peer, 'data', SOON);
    t.match(order.at(-1), /after;$/);
  });
}

t.test('rotation to a freshly issued short-lived certificate, then a freshly revoked one', async (t) => {
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const first = await ca.issueClient({ commonName: 'rotating', validityMs: 60_000 });
  const { server: tlsServer, port } = await startServer(t, { key: server.key, cert: server.chain, ca: ca.rootCert });
  const { client, peer } = await ourPair(tlsServer, port, { ca: ca.rootCert, key: first.key, cert: first.chain });
  client.on('error', () => {});
  peer.on('error', () => {});
  t.equal(peer.getPeerX509Certificate()?.serialNumber, first.serial);

  const second = await ca.issueClient({ commonName: 'rotating', validityMs: 60_000 });
  client.setIdentity({ key: second.key, cert: second.chain });
  const rotated = await peer.requestCertificate({ timeout: SOON });
  t.equal(rotated.chain[0]!.serialNumber, second.serial, 'the server sees the new serial');
  t.equal(rotated.verified, true);

  // A third certificate, revoked before the client presents it: the trust change leaves the
  // connection (still on the second) alone, and the fresh request itself must find the revocation.
  const third = await ca.issueClient({ commonName: 'rotating', validityMs: 60_000 });
  ca.revoke(third.serial);
  await tlsServer.setCrl(await ca.crls());
  t.equal(peer.destroyed, false, 'the current certificate is not revoked');
  client.setIdentity({ key: third.key, cert: third.chain });
  await t.rejects(
    peer.requestCertificate({ timeout: SOON }),
    { code: 'ERR_CTLS_CERT_VERIFY', verifyError: 'CERT_REVOKED' },
    'the next answer with it is refused',
  );
  await closed(peer);
});

t.test('no post-handshake auth offered -> ERR_CTLS_FRESH_UNSUPPORTED', async (t) => {
  const { server, port } = await startServer(t);

  t.test('node:tls client (never offers it)', async (t) => {
    const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
    const nodeClient = tls.connect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: certs.ca,
      key: certs.clientKey,
      cert: certs.clientChain,
    });
    t.teardown(() => nodeClient.destroy());
    const [peer] = await accepted;
    t.equal(peer.getProtocol(), 'TLSv1.3');
    await t.rejects(peer.requestCertificate(), { code: 'ERR_CTLS_FRESH_UNSUPPORTED' });
    t.equal(peer.destroyed, false, 'the connection stays up');
    t.equal(peer.reauthenticating, false);
    t.equal(peer.gateHeld, false, 'and keeps flowing');
  });

  t.test('our client with enablePostHandshakeAuth: false', async (t) => {
    const { peer } = await ourPair(server, port, { enablePostHandshakeAuth: false });
    await t.rejects(peer.requestCertificate(), { code: 'ERR_CTLS_FRESH_UNSUPPORTED' });
    t.equal(peer.destroyed, false);
  });

  t.test('a client socket cannot request a certificate', async (t) => {
    const { client } = await ourPair(server, port);
    await t.rejects(client.requestCertificate(), { code: 'ERR_CTLS_FRESH_UNSUPPORTED' });
  });
});

t.test('client-initiated renegotiation is refused, and the server keeps serving', async (t) => {
  const { server, port } = await startServer(t, { maxVersion: 'TLSv1.2' });
  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const nodeClient = tls.connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    maxVersion: 'TLSv1.2',
  });
  t.teardown(() => nodeClient.destroy());
  await waitFor(nodeClient, 'secureConnect', SOON);
  const [peer] = await accepted;
  peer.on('error', () => {});
  t.equal(nodeClient.getProtocol(), 'TLSv1.2');
  // node reports a refused renegotiation as an 'error' (its callback only hears of success).
  const outcome = await new Promise<CodedError | null>((resolve) => {
    nodeClient.once('error', resolve);
    const started = nodeClient.renegotiate({ rejectUnauthorized: true }, (error) => resolve(error ?? null));
    if (!started) resolve(new Error('renegotiate() refused to start'));
  });
  t.match(outcome, { code: 'ERR_SSL_NO_RENEGOTIATION' }, 'the server answered no_renegotiation (RFC 5246 7.2.2)');
  await closed(peer);

  // Other connections are unaffected.
  const { client, peer: other } = await ourPair(server, port, { maxVersion: 'TLSv1.2' });
  other.on('data', (data: Buffer) => other.write(data));
  const echo = waitFor<[Buffer]>(client, 'data', SOON);
  client.write('still serving');
  t.equal((await echo)[0].toString(), 'still serving');
});
