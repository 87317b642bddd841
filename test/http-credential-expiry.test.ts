// A keep-alive node:https connection outlives its client certificate: every request checks the clock
// against the presented chain's validity, with and without the decision cache.
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { connect } from '../dist/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { certs } from './helpers/certs';
import { rawHttp } from './helpers/raw-http';

t.test('an expired client certificate is refused on the connection it opened', async (t) => {
  const ca = await DevelopmentCA.create();
  const short = await ca.issueClient({ commonName: 'alice', validityMs: 3_000 });
  const notAfter = Date.parse(new X509Certificate(short.cert).validTo);
  const allowAll = Object.assign(() => ({ allow: true, reason: 'ok' }), { factsRead: [] as string[] });
  const authorizers = {
    cached: authorizeRequest({ policy: allowAll, exposeReason: true }),
    uncached: authorizeRequest({ policy: allowAll, cache: false, exposeReason: true }),
  };
  t.ok(authorizers.cached.cache, 'the cache is on for the cached case');
  const clients: Array<[string, ReturnType<typeof rawHttp>]> = [];

  for (const [name, authz] of Object.entries(authorizers)) {
    const server = https.createServer(
      { key: certs.serverKey, cert: certs.serverChain, ca: ca.rootCert, requestCert: true, rejectUnauthorized: false },
      authz.node((_req, res) => res.end('served')),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const socket = connect({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      servername: 'localhost',
      ca: certs.ca,
      key: short.key,
      cert: short.chain,
    });
    t.teardown(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const send = rawHttp(socket);
    t.match(await send('GET', '/'), { status: 200, body: 'served' }, `${name}: served while valid`);
    clients.push([name, send]);
  }
  // Wait (by the clock, not a fixed sleep) until the certificate has lapsed.
  while (Date.now() <= notAfter + 50) await new Promise((r) => setTimeout(r, Math.max(10, notAfter + 60 - Date.now())));
  for (const [name, send] of clients) {
    const r = await send('GET', '/');
    t.equal(r.status, 403, `${name}: refused once notAfter has passed`);
    t.match(JSON.parse(r.body), { detail: 'certificate-expired' });
  }
});
