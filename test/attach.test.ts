// The attached tier: attach(server, { ca, crl, policy, reauthorize }) adds continuous authorization to
// an unmodified node:tls / node:https server. Its connections are tracked with their decisions;
// interval re-checks with a policy that flips, a CRL update and a ~2 s certificate's expiry destroy the
// node socket; reauthorize(nodeTlsSocket) revalidates; fresh falls back on TLS 1.3 (no post-handshake
// auth in node) and uses renegotiate() on TLS 1.2.
import t, { type Test } from 'tap';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { attach, reauthorize, type Attachment, type AttachOptions, type Decision, type DecisionEvent } from '../dist/index.js';
import { closed, listen, waitFor } from './helpers/owned';
import { delay, makePki, type Pki } from './helpers/mtls';

type Identity = { key: string; chain: string };

function serverOptions(pki: Pki, version: tls.SecureVersion = 'TLSv1.3'): tls.TlsOptions {
  return { key: pki.server.key, cert: pki.server.chain, ca: pki.ca.rootCert, requestCert: true, rejectUnauthorized: true, maxVersion: version };
}

/** A node:tls server echoing nothing, attached, listening; everything closed on teardown. */
async function attachedServer(
  t: Test, pki: Pki, options: Partial<AttachOptions> = {}, version: tls.SecureVersion = 'TLSv1.3',
): Promise<{ server: tls.Server; attachment: Attachment; port: number }> {
  const server = tls.createServer(serverOptions(pki, version), (socket) => socket.on('error', () => {}));
  const attachment = attach(server, { ca: pki.ca.rootCert, ...options });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);
  return { server, attachment, port };
}

/** A node:tls client; resolves with it and the server's socket once both are up and admitted. */
async function nodeClient(
  t: Test, server: tls.Server, port: number, pki: Pki, identity: Identity = pki.client, version: tls.SecureVersion = 'TLSv1.3',
): Promise<{ client: tls.TLSSocket; socket: tls.TLSSocket }> {
  const accepted = waitFor<[tls.TLSSocket]>(server, 'secureConnection');
  const admitted = waitFor<[DecisionEvent, tls.TLSSocket]>(server, 'decision');
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.rootCert, key: identity.key, cert: identity.chain, maxVersion: version });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect');
  const [socket] = await accepted;
  await admitted;
  return { client, socket };
}

t.test('connections are tracked with their decisions', async (t) => {
  const pki = await makePki();
  const { server, attachment, port } = await attachedServer(t, pki);
  const a = await nodeClient(t, server, port, pki);
  const b = await nodeClient(t, server, port, pki);
  const live = attachment.connections();
  t.equal(live.length, 2);
  t.same(new Set(live.map((c) => c.socket)), new Set([a.socket, b.socket]), 'the node sockets themselves');
  t.ok(live.every((c) => c.decision?.allow === true && c.decision.trigger === 'handshake'));
  t.equal(live[0]!.decision?.certificate?.serialNumber, pki.client.serial);

  a.client.end();
  await closed(a.socket);
  await delay(10);
  t.same(attachment.connections().map((c) => c.socket), [b.socket], 'closed connections are forgotten');
});

t.test('an https.Server works the same: requests are served, then the connection is cut', async (t) => {
  const pki = await makePki();
  let allow = true;
  const server = https.createServer(serverOptions(pki), (request, response) => response.end(`hello ${request.url}`));
  const attachment = attach(server, { ca: pki.ca.rootCert, policy: () => allow, reauthorize: { every: 200 } });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca.rootCert, key: pki.client.key, cert: pki.client.chain });
  t.teardown(() => agent.destroy());
  const get = (path: string): Promise<string> => new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, servername: 'localhost', agent }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
  t.equal(await get('/one'), 'hello /one');
  t.equal(await get('/two'), 'hello /two');
  t.equal(attachment.connections().length, 1, 'one kept-alive connection, tracked');
  const [socket] = attachment.connections().map((c) => c.socket);

  allow = false;
  const [event] = await waitFor<[DecisionEvent]>(server, 'decision', 5_000);
  t.match(event, { trigger: 'interval', outcome: 'deny' });
  await closed(socket!);
  await delay(10); // closed() resolves on socket.closed, before the 'close' listeners ran
  t.equal(socket!.destroyed, true, 'the https connection was destroyed');
  t.same(attachment.connections(), []);
});

t.test('an interval re-check with a policy that flips to deny destroys the node socket', async (t) => {
  const pki = await makePki();
  let allow = true;
  const triggers: string[] = [];
  const { server, port } = await attachedServer(t, pki, {
    policy: (input) => {
      triggers.push(input.trigger);
      return { allow, reason: allow ? 'ok' : 'flipped' };
    },
    reauthorize: { every: 200 },
  });
  const { client, socket } = await nodeClient(t, server, port, pki);
  const deauthorized = waitFor<[Decision]>(socket, 'deauthorized', 5_000);
  await delay(450);
  t.ok(triggers.includes('interval'), 'periodic re-checks ran');
  t.equal(socket.destroyed, false);

  allow = false;
  const flippedAt = Date.now();
  const [decision] = await deauthorized;
  t.equal(decision.trigger, 'interval');
  t.equal(decision.reason, 'flipped');
  t.ok(Date.now() - flippedAt < 1_000, 'cut at the next re-check');
  await closed(socket);
  await closed(client);
  t.equal((socket as tls.TLSSocket & { destroyReason?: { code?: string } }).destroyReason?.code, 'ERR_CTLS_DEAUTHORIZED');
});

t.test('setCrl revoking the client cuts it', async (t) => {
  const pki = await makePki();
  const { server, attachment, port } = await attachedServer(t, pki, { crl: await pki.ca.crl() });
  const { client, socket } = await nodeClient(t, server, port, pki);
  let delivered = 0;
  socket.on('data', (chunk: Buffer) => (delivered += chunk.length));
  const writer = setInterval(() => !client.destroyed && client.write('x'.repeat(100)), 5);
  t.teardown(() => clearInterval(writer));
  await delay(100);

  pki.ca.revoke(pki.client.serial);
  const crl = await pki.ca.crl();
  const atCall = delivered;
  const decisions = await attachment.setCrl(crl);
  t.same(decisions.map((d) => [d.allow, d.trigger, d.reason]), [[false, 'revocation', 'CERT_REVOKED']]);
  await closed(socket);
  await closed(client);
  clearInterval(writer);
  t.equal(delivered, atCall, 'nothing delivered after setCrl() was called');
});

t.test('a ~2 s client certificate is cut at its expiry', async (t) => {
  const pki = await makePki();
  const shortLived = await pki.ca.issueClient({ commonName: 'short', validityMs: 3_000 });
  const notAfter = shortLived.notAfter.getTime();
  const { server, port } = await attachedServer(t, pki, { reauthorize: { every: 0, onExpiry: true } });
  const { client, socket } = await nodeClient(t, server, port, pki, shortLived);
  const [decision] = await waitFor<[Decision]>(socket, 'deauthorized', notAfter - Date.now() + 5_000);
  const cutAt = Date.now();
  t.equal(decision.trigger, 'expiry');
  t.equal(decision.reason, 'CERT_HAS_EXPIRED');
  t.ok(cutAt >= notAfter && cutAt <= notAfter + 1_500, `cut ${cutAt - notAfter} ms after notAfter`);
  await closed(socket);
  await closed(client);
});

t.test('reauthorize(nodeTlsSocket) revalidates against the attachment trust store', async (t) => {
  const pki = await makePki();
  const { server, attachment, port } = await attachedServer(t, pki);
  const { client, socket } = await nodeClient(t, server, port, pki);
  const decision = await reauthorize(socket, { reason: 'audit' });
  t.equal(decision.allow, true);
  t.equal(decision.trigger, 'manual');
  t.equal(decision.certificate?.serialNumber, pki.client.serial);

  pki.ca.revoke(pki.client.serial);
  attachment.authorizer.trust.setCrl(await pki.ca.crl());
  const denied = await reauthorize(socket);
  t.equal(denied.allow, false);
  t.equal(denied.reason, 'CERT_REVOKED');
  await closed(client);

  await t.rejects(reauthorize(new tls.TLSSocket(null as never)), { code: 'ERR_CTLS_INVALID_OPTION' }, 'an untracked node socket is refused');
});

t.test('fresh on TLS 1.3: no post-handshake auth in node, ERR_CTLS_FRESH_UNSUPPORTED', async (t) => {
  const pki = await makePki();
  const { server, port } = await attachedServer(t, pki);

  const { socket } = await nodeClient(t, server, port, pki);
  t.equal(socket.getProtocol(), 'TLSv1.3');
  const fallback = await reauthorize(socket, { fresh: true });
  t.equal(fallback.allow, true, "default fallback 'revalidate'");
  t.equal(fallback.source, 'fallback');

  const other = await nodeClient(t, server, port, pki);
  const denied = await reauthorize(other.socket, { fresh: true, fallback: 'deny' });
  t.equal(denied.allow, false);
  t.equal(denied.reason, 'fresh-unsupported');
  t.equal((denied as Decision & { error?: { code?: string } }).error?.code, 'ERR_CTLS_FRESH_UNSUPPORTED');
  await closed(other.socket);
});

t.test('fresh on TLS 1.2 renegotiates and allows, again and again', async (t) => {
  const pki = await makePki();
  const { server, port } = await attachedServer(t, pki, {}, 'TLSv1.2');
  const { client, socket } = await nodeClient(t, server, port, pki, pki.client, 'TLSv1.2');
  t.equal(socket.getProtocol(), 'TLSv1.2');
  const errors: Error[] = [];
  socket.on('error', (error: Error) => errors.push(error));
  let renegotiations = 0;
  const renegotiate = socket.renegotiate.bind(socket);
  socket.renegotiate = (options, callback) => {
    renegotiations++;
    return renegotiate(options, callback);
  };
  for (let round = 1; round <= 4; round++) {
    const decision = await reauthorize(socket, { fresh: true });
    t.equal(decision.allow, true, `round ${round}: ${decision.reason}`);
    t.equal(decision.source, 'engine', 'a real fresh exchange, not the fallback');
    t.equal(decision.certificate?.serialNumber, pki.client.serial);
    t.equal(renegotiations, round, 'through tlsSocket.renegotiate()');
  }
  // node counts handshakes against its client-renegotiation limit (3 per 10 min): ours must not trip it.
  t.same(errors.map((error) => error.message), [], 'no ERR_TLS_SESSION_ATTACK or other error');

  const got = waitFor<[Buffer]>(socket, 'data');
  client.write('after');
  t.equal(String((await got)[0]), 'after', 'data still flows');
});
