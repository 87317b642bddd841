// While a certificate request is out (TLS 1.3 post-handshake auth, TLS 1.2 renegotiation) the server
// keeps reading, because the peer's answer queues behind the data it already sent; what it reads is
// held by the data gate. A peer that never answers and keeps sending meets maxHeldBytes: the
// connection fails with ERR_CTLS_HELD_LIMIT long before the re-authentication timeout, having read
// little more than the limit. An honest peer whose answer sits behind less than the limit passes.
import t from 'tap';
import type * as net from 'node:net';
import { makePki, mtlsOptions, startServer, connectPair, codeOf, floodWithoutReading } from './helpers/mtls';
import { closed } from './helpers/owned';

const MiB = 1024 * 1024;

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  for (const limit of [4 * MiB, undefined]) {
    const label = limit === undefined ? 'the default 16 MiB' : `maxHeldBytes ${limit / MiB} MiB`;
    t.test(`${version}: a peer that never answers the request and keeps sending is cut at ${label}`, async (t) => {
      const pki = await makePki();
      const { server, port } = await startServer(
        t,
        mtlsOptions(pki, { maxVersion: version, ...(limit === undefined ? {} : { maxHeldBytes: limit }) }),
      );
      const pair = await connectPair(t, server, port, pki);
      const started = Date.now();
      const request = pair.socket.requestCertificate({ timeout: 60_000 });
      const rejected = t.rejects(request, { code: 'ERR_CTLS_HELD_LIMIT' });
      void floodWithoutReading(pair);
      await closed(pair.socket, 30_000);
      await rejected;
      t.equal(codeOf(pair.socket.destroyReason), 'ERR_CTLS_HELD_LIMIT');
      const read = (pair.socket.transport as net.Socket).bytesRead;
      const ceiling = (limit ?? 16 * MiB) + MiB;
      t.ok(
        read < ceiling,
        `read ${(read / MiB).toFixed(2)} MiB before the cut (ceiling plus records in flight < ${ceiling / MiB} MiB)`,
      );
      t.ok(Date.now() - started < 30_000, 'cut by the limit, not by the re-authentication timeout');
    });
  }

  t.test(`${version}: an answer behind less than maxHeldBytes of data still arrives`, async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(t, mtlsOptions(pki, { maxVersion: version, maxHeldBytes: 4 * MiB }));
    const pair = await connectPair(t, server, port, pki);
    let received = 0;
    pair.socket.on('data', (chunk: Buffer) => (received += chunk.length));
    const payload = Buffer.alloc(2 * MiB, 7);
    pair.client.write(payload);
    const result = await pair.socket.requestCertificate({ timeout: 10_000 });
    t.equal(result.verified, true, 'the fresh certificate verified');
    t.equal(pair.socket.destroyed, false, 'the connection lives');
    const deadline = Date.now() + 10_000;
    while (received < payload.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    t.equal(received, payload.length, 'every byte sent before the answer is delivered');
  });
}

t.test('maxHeldBytes and maxPendingHandshakes are validated', async (t) => {
  const pki = await makePki();
  const { createServer } = await import('../dist/index.js');
  for (const bad of [0, -1, 1.5, '1', null, NaN]) {
    t.throws(() => createServer(mtlsOptions(pki, { maxHeldBytes: bad as number })), {
      code: 'ERR_CTLS_INVALID_OPTION',
      message: /maxHeldBytes/,
    });
    t.throws(() => createServer(mtlsOptions(pki, { maxPendingHandshakes: bad as number })), {
      code: 'ERR_CTLS_INVALID_OPTION',
      message: /maxPendingHandshakes/,
    });
  }
  t.doesNotThrow(() => createServer(mtlsOptions(pki, { maxHeldBytes: Infinity, maxPendingHandshakes: 10 })));
});
