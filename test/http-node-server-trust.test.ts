// Which context's CAs REST on node:https judges a client under (lib/http/node-server-trust.ts),
// where the attack tests do not reach: a resumed session behind an app's SNICallback, on TLS 1.3
// and on TLS 1.2 (whose resumed sessions carry no name at node's level), gets the context the
// callback answers for its name now, on whichever server it resumes; a context whose CAs are
// unknown never lends a chain one connection showed to another connection of the same leaf.
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import { randomBytes, X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki } from './helpers/cross-signed-pki';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

interface ServeOptions {
  guard?: SerialGuard;
  /** The context the SNICallback answers "localhost" with. */
  context: tls.SecureContext;
  ticketKeys?: Buffer;
}

async function serve(t: Test, options: ServeOptions): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  if (options.guard) (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(options.guard);
  const server = https.createServer(
    {
      key: certs.serverKey,
      cert: certs.serverChain,
      // The default context trusts another PKI: a client judged under it has no chain at all.
      ca: certs.wrongCa,
      requestCert: true,
      rejectUnauthorized: true,
      ...(options.ticketKeys && { ticketKeys: options.ticketKeys }),
      SNICallback: (name: string, done: (error: Error | null, context?: tls.SecureContext) => void) =>
        done(null, name === 'localhost' ? options.context : undefined),
    },
    authz.node((req, res) => res.end(`resumed=${String((req.socket as tls.TLSSocket).isSessionReused())}`)),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

interface Reply {
  status: string;
  session?: Buffer;
}

/** GET / over a new connection to "localhost", resuming `session` if given. */
async function request(
  t: Test,
  port: number,
  key: string,
  cert: string,
  session?: Buffer,
  maxVersion: tls.SecureVersion = 'TLSv1.3',
): Promise<Reply> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca,
    key,
    cert,
    maxVersion,
    ...(session && { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  let ticket: Buffer | undefined;
  client.on('session', (value: Buffer) => (ticket = value));
  await waitFor(client, 'secureConnect', SOON);
  const closed = new Promise<string>((resolve) => client.once('close', () => resolve('closed')));
  const status = await Promise.race([
    rawHttp(client)('GET', '/').then(
      (reply) => `${reply.status} ${String(reply.body)}`,
      () => 'closed',
    ),
    closed,
  ]);
  return { status, session: ticket };
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: behind an app's SNICallback, a resumed session is judged under its name's context`, async (t) => {
    const pki = crossSignedPki(t, `server-trust-sni-${version}`);
    const guard = new SerialGuard();
    const context = tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: pki.newTrust });
    const port = await serve(t, { guard, context });
    const first = await request(t, port, pki.leafKey, pki.leaf, undefined, version);
    t.equal(first.status, '200 resumed=false', 'a full handshake is served under the name context');
    const resumed = await request(t, port, pki.leafKey, pki.leaf, first.session, version);
    t.equal(resumed.status, '200 resumed=true', 'its resumed session is served under the same context');
    guard.revoke(new X509Certificate(pki.newIntermediate).serialNumber);
    const after = await request(t, port, pki.leafKey, pki.leaf, first.session, version);
    t.match(after.status, /^403/, `a revocation of the context's intermediate reaches it (${after.status})`);
  });

  t.test(`${version}: a session resumed on another server is judged by that server's SNICallback`, async (t) => {
    const ticketKeys = randomBytes(48);
    const context = tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca });
    const maker = await serve(t, { context, ticketKeys });
    const first = await request(t, maker, certs.clientKey, certs.clientChain, undefined, version);
    t.equal(first.status, '200 resumed=false', 'the session is made on one server');
    // Another server (another process of a fleet, in effect) sharing the ticket keys.
    const elsewhere = tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain, ca: certs.wrongCa });
    const other = await serve(t, { context: elsewhere, ticketKeys });
    const resumed = await request(t, other, certs.clientKey, certs.clientChain, first.session, version);
    t.match(resumed.status, /^403/, `its name's context there trusts another PKI: denied (${resumed.status})`);
    const same = await serve(t, { context, ticketKeys });
    const again = await request(t, same, certs.clientKey, certs.clientChain, first.session, version);
    // TLS 1.2 included: the name of a session made in this process is kept by session.
    t.equal(again.status, '200 resumed=true', 'where it trusts the client, served');
  });
}

t.test('a chain shown under unknown CAs is not lent to a later connection of the same leaf', async (t) => {
  const pki = crossSignedPki(t, 'server-trust-unknown');
  const onWarning = (): void => {};
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  // CAs added to the native store after the context was made: the library cannot know them.
  const context = tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain });
  (context as unknown as { context: { addCACert(pem: string): void } }).context.addCACert(pki.newTrust);
  const guard = new SerialGuard();
  const port = await serve(t, { guard, context });
  const padded = await request(t, port, pki.leafKey, pki.leaf + pki.oldIntermediate + pki.oldRoot);
  t.equal(padded.status, '200 resumed=false', 'the padded chain is judged as node shows it (the documented gap)');
  const plain = await request(t, port, pki.leafKey, pki.leaf);
  t.match(plain.status, /^403 .*certificate-chain-unknown/, `the leaf alone does not inherit it (${plain.status})`);
});

t.test('the host name a request names, for a TLS 1.2 session that resumes without one', async (t) => {
  const { requestHostName } = await import('../dist/http/node-server-trust.js');
  t.equal(requestHostName({ host: 'a.test' }), 'a.test');
  t.equal(requestHostName({ host: 'a.test:8443' }), 'a.test', 'without its port');
  t.equal(requestHostName({ host: 'A.Test.' }), 'a.test', 'lower case, without a trailing dot, as an SNI');
  t.equal(requestHostName({ host: '[::1]:8443' }), undefined, 'an IPv6 literal is no SNI');
  t.equal(requestHostName({ host: '127.0.0.1:8443' }), undefined, 'nor is an IPv4 one');
  t.equal(requestHostName({ ':authority': 'b.test:443' }), 'b.test', "HTTP/2's :authority");
  t.equal(requestHostName({ host: '' }), undefined, 'an empty Host names nothing');
  t.equal(requestHostName({ host: ':443' }), undefined, 'nor does a port alone');
  t.equal(requestHostName({}), undefined);
});
