// The attached tier: attach(server, { ca, crl, policy, reauthorize }) adds continuous authorization to
// an unmodified node:tls / node:https server. Its connections are tracked with their decisions;
// interval re-checks with a policy that flips, a CRL update and a ~2 s certificate's expiry destroy the
// node socket; reauthorize(nodeTlsSocket) revalidates; fresh falls back on TLS 1.3 (no post-handshake
// auth in node) and uses renegotiate() on TLS 1.2. A chain node:tls reports as a lone leaf (a client
// that sends only its leaf, or Node 24.x / 26.8+ hiding what it presented, nodejs/node#65579) is
// completed from the attachment's `intermediates`.
import t, { type Test } from 'tap';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { constants } from 'node:crypto';
import { once } from 'node:events';
import { attach, reauthorize, type Decision, type DecisionEvent } from '../dist/index.js';
import { attachedServer, type ClientIdentity } from './helpers/attached-tls';
import { closed, listen, waitFor } from './helpers/owned';
import { delay, makePki, type Pki } from './helpers/mtls';

// attachedServer() gives the attachment the CA's intermediate, so the tests hold on Node versions
// that hide the one the client presents; where node shows it, the presented one is what completes
// the chain.

function serverOptions(pki: Pki): tls.TlsOptions {
  return {
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
    rejectUnauthorized: true,
    maxVersion: 'TLSv1.3',
  };
}

t.test('connections are tracked with their decisions', async (t) => {
  const { attachment, pki, connect } = await attachedServer(t, undefined);
  const a = await connect();
  const b = await connect();
  const live = attachment.connections();
  t.equal(live.length, 2);
  t.same(new Set(live.map((c) => c.socket)), new Set([a.socket, b.socket]), 'the node sockets themselves');
  t.ok(live.every((c) => c.decision?.allow === true && c.decision.trigger === 'handshake'));
  t.equal(live[0]!.decision?.certificate?.serialNumber, pki.client.serial);

  a.client.end();
  await closed(a.socket);
  await delay(10);
  t.same(
    attachment.connections().map((c) => c.socket),
    [b.socket],
    'closed connections are forgotten',
  );
});

t.test('an https.Server works the same: requests are served, then the connection is cut', async (t) => {
  const pki = await makePki();
  let allow = true;
  const server = https.createServer(serverOptions(pki), (request, response) => response.end(`hello ${request.url}`));
  const attachment = attach(server, {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    policy: () => allow,
    reauthorize: { every: 200 },
  });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  t.teardown(() => agent.destroy());
  const get = (path: string): Promise<string> =>
    new Promise((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path, servername: 'localhost', agent }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk));
          response.on('end', () => resolve(body));
        })
        .on('error', reject);
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
  let allow = true;
  const triggers: string[] = [];
  const { connect } = await attachedServer(
    t,
    (input) => {
      triggers.push(input.trigger);
      return { allow, reason: allow ? 'ok' : 'flipped' };
    },
    { reauthorize: { every: 200 } },
  );
  const { client, socket } = await connect();
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
  t.equal(
    (socket as tls.TLSSocket & { destroyReason?: { code?: string } }).destroyReason?.code,
    'ERR_CTLS_DEAUTHORIZED',
  );
});

t.test('setCrl revoking the client cuts it', async (t) => {
  const pki = await makePki();
  const { attachment, connect } = await attachedServer(t, undefined, { crl: await pki.ca.crls() }, { pki });
  const { client, socket } = await connect();
  let delivered = 0;
  socket.on('data', (chunk: Buffer) => (delivered += chunk.length));
  const writer = setInterval(() => !client.destroyed && client.write('x'.repeat(100)), 5);
  t.teardown(() => clearInterval(writer));
  await delay(100);

  pki.ca.revoke(pki.client.serial);
  const crl = await pki.ca.crls();
  const atCall = delivered;
  const decisions = await attachment.setCrl(crl);
  t.same(
    decisions.map((d) => [d.allow, d.trigger, d.reason]),
    [[false, 'revocation', 'CERT_REVOKED']],
  );
  await closed(socket);
  await closed(client);
  clearInterval(writer);
  t.equal(delivered, atCall, 'nothing delivered after setCrl() was called');
});

t.test('a ~2 s client certificate is cut at its expiry', async (t) => {
  const pki = await makePki();
  const shortLived = await pki.ca.issueClient({ commonName: 'short', validityMs: 3_000 });
  const notAfter = shortLived.notAfter.getTime();
  const { connect } = await attachedServer(t, undefined, { reauthorize: { every: 0, onExpiry: true } }, { pki });
  const { client, socket } = await connect(shortLived);
  const [decision] = await waitFor<[Decision]>(socket, 'deauthorized', notAfter - Date.now() + 5_000);
  const cutAt = Date.now();
  t.equal(decision.trigger, 'expiry');
  t.equal(decision.reason, 'CERT_HAS_EXPIRED');
  t.ok(cutAt >= notAfter && cutAt <= notAfter + 1_500, `cut ${cutAt - notAfter} ms after notAfter`);
  await closed(socket);
  await closed(client);
});

t.test('reauthorize(nodeTlsSocket) revalidates against the attachment trust store', async (t) => {
  const { attachment, pki, connect } = await attachedServer(t, undefined);
  const { client, socket } = await connect();
  const decision = await reauthorize(socket, { reason: 'audit' });
  t.equal(decision.allow, true);
  t.equal(decision.trigger, 'manual');
  t.equal(decision.certificate?.serialNumber, pki.client.serial);

  pki.ca.revoke(pki.client.serial);
  attachment.authorizer.trust.setCrl(await pki.ca.crls());
  const denied = await reauthorize(socket);
  t.equal(denied.allow, false);
  t.equal(denied.reason, 'CERT_REVOKED');
  await closed(client);

  await t.rejects(
    reauthorize(new tls.TLSSocket(null as never)),
    { code: 'ERR_CTLS_INVALID_OPTION' },
    'an untracked node socket is refused',
  );
});

t.test('fresh on TLS 1.3: no post-handshake auth in node, ERR_CTLS_FRESH_UNSUPPORTED', async (t) => {
  const { connect } = await attachedServer(t, undefined);

  const { socket } = await connect();
  t.equal(socket.getProtocol(), 'TLSv1.3');
  const fallback = await reauthorize(socket, { fresh: true });
  t.equal(fallback.allow, true, "default fallback 'revalidate'");
  t.equal(fallback.source, 'fallback');

  const other = await connect();
  const denied = await reauthorize(other.socket, { fresh: true, fallback: 'deny' });
  t.equal(denied.allow, false);
  t.equal(denied.reason, 'fresh-unsupported');
  t.equal((denied as Decision & { error?: { code?: string } }).error?.code, 'ERR_CTLS_FRESH_UNSUPPORTED');
  await closed(other.socket);
});

t.test('fresh on TLS 1.2 renegotiates and allows, again and again', async (t) => {
  // A renegotiation that resumes asks for no certificate (and counts as no fresh exchange).
  const { pki, connect } = await attachedServer(
    t,
    undefined,
    {},
    { maxVersion: 'TLSv1.2', tlsOptions: { secureOptions: constants.SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION } },
  );
  const { client, socket } = await connect();
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
  t.same(
    errors.map((error) => error.message),
    [],
    'no ERR_TLS_SESSION_ATTACK or other error',
  );

  const got = waitFor<[Buffer]>(socket, 'data');
  client.write('after');
  t.equal(String((await got)[0]), 'after', 'data still flows');
});

/** Whether node:tls shows, on the server side, the intermediates a client presented. */
function showsPresentedIntermediates(socket: tls.TLSSocket): boolean {
  const detailed = socket.getPeerCertificate(true);
  const issuer = detailed?.issuerCertificate;
  return issuer !== undefined && issuer !== null && issuer.fingerprint256 !== detailed.fingerprint256;
}

/** Asks a plain (unattached) node:tls mTLS server of this Node version. */
async function nodeShowsPresentedIntermediates(t: Test, pki: Pki): Promise<boolean> {
  const server = tls.createServer(serverOptions(pki), (socket) => socket.on('error', () => {}));
  const port = await listen(t, server);
  const accepted = waitFor<[tls.TLSSocket]>(server, 'secureConnection');
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const [socket] = await accepted;
  return showsPresentedIntermediates(socket);
}

t.test('without `intermediates`, the chain node shows is used; a hidden one is a warned denial', async (t) => {
  const { server, pki, connect } = await attachedServer(t, undefined, {}, { trust: { intermediates: undefined } });
  const warnings: Array<{ code?: string }> = [];
  server.on('warning', (warning: { code?: string }) => warnings.push(warning));
  const decisions: DecisionEvent[] = [];
  server.on('decision', (event: DecisionEvent) => decisions.push(event));
  await connect();
  if (await nodeShowsPresentedIntermediates(t, pki)) {
    t.match(decisions, [{ outcome: 'allow', trigger: 'handshake' }], 'the presented leaf and intermediate verify');
    t.same(warnings, []);
  } else {
    // Node 24.x / 26.8+: the leaf arrives alone, nothing completes it.
    t.match(decisions, [{ outcome: 'deny', reason: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }]);
    t.match(warnings, [{ code: 'ERR_CTLS_CHAIN_INCOMPLETE' }]);
  }
});

t.test('a client sending its leaf alone is completed from `intermediates`, which rotate', async (t) => {
  // node:tls lets the lone leaf through unverified; the attachment is what decides. (Were the
  // intermediate in node's own `ca`, node would link it into the chain itself.)
  const nodeLets = { rejectUnauthorized: false };
  const { server, attachment, pki, connect } = await attachedServer(t, undefined, {}, { tlsOptions: nodeLets });
  const leafOnly: ClientIdentity = { key: pki.client.key, chain: pki.client.cert };
  const warnings: Array<{ code?: string }> = [];
  server.on('warning', (warning: { code?: string }) => warnings.push(warning));
  const { client, socket } = await connect(leafOnly);
  t.equal(showsPresentedIntermediates(socket), false, 'node shows the leaf alone');
  t.equal(attachment.connections()[0]?.decision?.allow, true, 'the attachment completed and verified it');
  t.equal((await reauthorize(socket)).allow, true, 'and again on a manual re-check');

  const decisions = await attachment.setIntermediates(undefined);
  t.same(
    decisions.map((d) => [d.allow, d.trigger, d.reason]),
    [[false, 'revocation', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']],
    'without the intermediate, the same connection is denied at once',
  );
  await closed(socket);
  await closed(client);
  t.match(
    warnings,
    [{ code: 'ERR_CTLS_CHAIN_INCOMPLETE', message: /nodejs\/node#65579/ }],
    'with a warning that says what to pass',
  );

  const second = await connect(leafOnly);
  await closed(second.socket);
  t.equal(warnings.length, 1, 'warned once per attachment, not per connection');
});

t.test('`intermediates` never bring trust: a root among them is not an anchor', async (t) => {
  const pki = await makePki();
  const stranger = await makePki('mallory');
  // The attachment trusts another CA only; our root and intermediate are merely "intermediates".
  const { server, connect } = await attachedServer(
    t,
    undefined,
    {},
    {
      pki,
      trust: { ca: stranger.ca.rootCert, intermediates: [pki.ca.issuerChain, pki.ca.rootCert] },
      tlsOptions: { rejectUnauthorized: false },
    },
  );
  const decisions: DecisionEvent[] = [];
  server.on('decision', (event: DecisionEvent) => decisions.push(event));
  const { socket } = await connect({ key: pki.client.key, chain: pki.client.cert });
  await closed(socket);
  t.match(
    decisions,
    [{ outcome: 'deny', reason: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }],
    'the chain stops at the intermediate',
  );
  t.equal(
    (socket as tls.TLSSocket & { destroyReason?: { code?: string } }).destroyReason?.code,
    'ERR_CTLS_DEAUTHORIZED',
  );
});

t.test('bad `intermediates` are refused with ERR_CTLS_BAD_PEM, naming the option', async (t) => {
  const pki = await makePki();
  const server = tls.createServer(serverOptions(pki));
  t.throws(() => attach(server, { ca: pki.ca.rootCert, intermediates: 'not a certificate' }), {
    code: 'ERR_CTLS_BAD_PEM',
    message: /no PEM certificate found in option "intermediates"/,
  });
  const corrupt = pki.ca.issuerChain.replace(/^(-----BEGIN CERTIFICATE-----\n)[A-Za-z0-9+/]{8}/, '$1AAAAAAAA');
  t.throws(() => attach(server, { ca: pki.ca.rootCert, intermediates: corrupt }), {
    code: 'ERR_CTLS_BAD_PEM',
    message: /certificate 1 of option "intermediates" does not parse/,
  });
  t.throws(() => attach(server, { ca: pki.ca.rootCert, intermediates: 42 as never }), {
    code: 'ERR_CTLS_INVALID_OPTION',
  });

  t.equal(server.emit, tls.Server.prototype.emit, 'the failed attach() calls left nothing behind');
  const attachment = attach(server, { ca: pki.ca.rootCert });
  t.teardown(() => attachment.detach());
  t.throws(() => attachment.setIntermediates('junk'), { code: 'ERR_CTLS_BAD_PEM' });
  attachment.detach();
  t.equal(Object.prototype.hasOwnProperty.call(server, 'emit'), false, 'nor does detach()');
});

t.test('with nobody listening on the server, the lone-leaf warning becomes a process warning', async (t) => {
  const { server, pki, connect } = await attachedServer(
    t,
    undefined,
    {},
    { trust: { intermediates: undefined }, tlsOptions: { rejectUnauthorized: false } },
  );
  t.equal(server.listenerCount('warning'), 0);
  const warned = once(process, 'warning') as Promise<[Error & { code?: string }]>;
  const { socket } = await connect({ key: pki.client.key, chain: pki.client.cert });
  const [warning] = await warned;
  t.equal(warning.code, 'ERR_CTLS_CHAIN_INCOMPLETE', 'not lost for want of a listener');
  await closed(socket);
});
