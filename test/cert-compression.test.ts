// Certificate chains cross the wire as plain DER whichever OpenSSL Node brought. OpenSSL 3.2 and
// later (Node 24 ships 3.5) turn RFC 8879 certificate compression on by default and brotli-compress
// the chain at top quality on every handshake and every post-handshake certificate answer, about
// 2 ms of CPU each. node:tls keeps it off unless asked, and so does the addon. The check is on the
// bytes the client writes to answer a certificate request: uncompressed, that is its chain's DER
// plus about 250 bytes (certificate entries, CertificateVerify, Finished, record framing); on
// Node 24 without the option it came to 27 bytes less than the DER alone. On OpenSSL 3.0 (Node
// 20) nothing compresses, so the test holds there by construction and guards newer runtimes.
import t from 'tap';
import type { Socket } from 'node:net';
import { reauthorize } from '../dist/index.js';
import { connectPair, makePki, mtlsOptions, startServer } from './helpers/mtls';
import { pemChain } from './helpers/owned';

t.test('a client answers a certificate request with its chain uncompressed', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki, { maxVersion: 'TLSv1.3' }));
  const { client, socket } = await connectPair(t, server, port, pki);
  t.equal(socket.getProtocol(), 'TLSv1.3', 'post-handshake auth, not a renegotiation');
  const transport = client.transport as Socket;
  const before = transport.bytesWritten;
  const decision = await reauthorize(socket, { fresh: true });
  t.equal(decision.allow, true);
  const answer = transport.bytesWritten - before;
  const presented = pemChain(pki.client.chain);
  t.equal(presented.length, 2, 'leaf and intermediate');
  const chain = presented.reduce((sum, certificate) => sum + certificate.raw.length, 0);
  t.ok(answer >= chain + 100, `the answer (${answer} bytes) carries the client's ${chain} DER bytes and its framing`);
});
