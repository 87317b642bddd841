// Attack (pending states are budgets): the owned server keeps OpenSSL's internal, stateful session
// cache on (SSL_SESS_CACHE_SERVER, OpenSSL's default size of 20,480 sessions, kept for
// `sessionTimeout`), and every session it caches keeps the chain the client presented, parsed. A
// client with any certificate the server accepts connects with TLS 1.2, declines tickets (so each
// full handshake is cached under a session ID), pads its Certificate message with ~95 KiB of
// unrelated certificates (they verify: extra certificates are ignored), and closes. Each closed
// connection then leaves about 0.75 MiB in the server (a manual run: 900 connections, 650 MiB, linear),
// up to 20,480 of them: some 15 GiB that no limit of the library (maxPendingHandshakes,
// maxHeldBytes, maxHeldBytesTotal) counts, and that outlives the connections that paid for it.
// node:tls keeps no internal server session cache (SSL_SESS_CACHE_NO_INTERNAL; an app stores
// sessions itself through 'newSession'), so moving a server to this library opens the hole.
//
// A correct library bounds what a closed connection leaves behind: no internal cache (as node:tls),
// or one bounded in entries and bytes that does not keep the presented chain. Here, with ~60 KiB
// of padding, a batch of 30 such connections after a warm-up batch grows the server's RSS by less
// than 7 MiB (the cached sessions alone make it ~14 MiB).
import t from 'tap';
import * as tls from 'node:tls';
import { fork } from 'node:child_process';
import { constants } from 'node:crypto';
import { join } from 'node:path';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { DevelopmentCA } from '../dist/dev/pki.js';

const MiB = 1024 * 1024;

/** The server, alone in a child process so that its memory can be read. */
const WORKER = `
const { createServer } = require(process.argv[2]);
const { key, cert, ca } = JSON.parse(process.argv[3]);
const server = createServer({ key, cert, ca, requestCert: true });
server.on('secureConnection', (s) => { s.on('error', () => {}); s.end(); });
server.on('tlsClientError', () => {});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', async () => {
  global.gc(); await new Promise((r) => setTimeout(r, 50)); global.gc();
  process.send({ rss: process.memoryUsage().rss, live: server.connections().length });
});
`;

t.test('closed TLS 1.2 connections with padded client chains do not stay in the server', async (t) => {
  const ca = await DevelopmentCA.create();
  const serverId = await ca.issueServer({ commonName: 'localhost' });
  const client = await ca.issueClient({ commonName: 'mallory' });
  // Padding: certificates of an unrelated CA, ignored by verification, kept by the session.
  const other = await DevelopmentCA.create();
  const junk: string[] = [];
  for (let index = 0; index < 8; index++) junk.push((await other.issueClient({ commonName: `pad${index}` })).chain);
  let padding = '';
  while (padding.length < 60_000) padding += junk.join('');

  const dir = mkdtempSync(join(tmpdir(), 'attack15b-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'worker.cjs');
  writeFileSync(script, WORKER);
  const identity = JSON.stringify({ key: serverId.key, cert: serverId.chain, ca: ca.rootCert });
  const child = fork(script, [join(__dirname, '..', 'dist', 'index.js'), identity], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  const message = <T>(): Promise<T> => new Promise((resolve) => child.once('message', resolve as (m: unknown) => void));
  const { port } = await message<{ port: number }>();
  const measure = async (): Promise<{ rss: number; live: number }> => {
    child.send('measure');
    return message();
  };

  const connectOnce = (): Promise<boolean> =>
    new Promise((resolve) => {
      const socket = tls.connect({
        port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: ca.rootCert,
        key: client.key,
        cert: client.chain + padding,
        maxVersion: 'TLSv1.2',
        secureOptions: constants.SSL_OP_NO_TICKET,
      });
      let secure = false;
      socket.on('secureConnect', () => (secure = true));
      socket.on('data', () => {});
      socket.on('error', () => {});
      socket.on('close', () => resolve(secure));
    });
  const batch = async (count: number): Promise<number> => {
    let secured = 0;
    for (let index = 0; index < count; index += 10) {
      const results = await Promise.all(Array.from({ length: 10 }, connectOnce));
      secured += results.filter(Boolean).length;
    }
    return secured;
  };

  await batch(10); // warm-up: the heap and OpenSSL's own tables reach their working size
  const before = await measure();
  const secured = await batch(30);
  const after = await measure();
  t.equal(secured, 30, 'every padded handshake was accepted');
  t.equal(after.live, 0, 'no connection is live any more');
  const growth = after.rss - before.rss;
  t.ok(
    growth < 7 * MiB,
    `30 closed connections left ${(growth / MiB).toFixed(1)} MiB in the server ` +
      `(${(growth / 30 / 1024).toFixed(0)} KiB each)`,
  );
});
