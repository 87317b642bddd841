/**
 * Attack: on the request tier (authorizeRequest over node:https) a session's start is taken from the
 * socket's first request, not its handshake. A client that completes its mTLS handshake, waits for
 * its subject to be revoked (revokeSubject, CAEP session-revoked), then sends its first request on
 * that connection is judged as a session begun after the revocation, and is allowed.
 */
import t from 'tap';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { createFleet } from '../dist/index.js';
import { authorizeRequest } from '../dist/http/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { haveRedis, startRedis } from './helpers/redis';
import { listen, waitFor } from './helpers/owned';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('a connection established before a subject revocation is refused at its first request', async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'since' });
  t.teardown(() => fleet.close());
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const alice = await ca.issueClient({ commonName: 'alice', altNames: ['alice@example.com'] });
  const authorizer = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }) });
  fleet.watch(authorizer);
  const https1 = https.createServer(
    { key: server.key, cert: server.chain, ca: ca.rootCert, requestCert: true, rejectUnauthorized: true },
    authorizer.node((_req, res) => res.end('ok')),
  );
  const port = await listen(t, https1);

  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: ca.rootCert,
    key: alice.key,
    cert: alice.chain,
  });
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  await waitFor(socket, 'secureConnect');
  await new Promise((resolve) => setTimeout(resolve, 20));

  // Control: a second connection that made a request before the revocation is refused after it.
  const control = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: ca.rootCert,
    key: alice.key,
    cert: alice.chain,
  });
  control.on('error', () => {});
  t.teardown(() => control.destroy());
  await waitFor(control, 'secureConnect');
  let controlAnswer = '';
  control.on('data', (chunk: Buffer) => (controlAnswer += chunk.toString()));
  control.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  while (!controlAnswer.includes('\r\n\r\nok')) await new Promise((resolve) => setTimeout(resolve, 5));
  t.match(controlAnswer, /^HTTP\/1\.1 200 /);

  await fleet.revokeSubject({ format: 'email', email: 'alice@example.com' });
  controlAnswer = '';
  control.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  await Promise.race([waitFor(control, 'end'), new Promise((r) => setTimeout(r, 5_000))]);
  t.match(controlAnswer, /^HTTP\/1\.1 403 /, 'control: a connection seen before the revocation is refused');
  await new Promise((resolve) => setTimeout(resolve, 20));
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  await Promise.race([waitFor(socket, 'end'), new Promise((r) => setTimeout(r, 5_000))]);
  t.match(answer, /^HTTP\/1\.1 403 /, `the session began before the revocation (got ${answer.split('\r\n')[0]})`);
});
