// Interop with Node's own TLS stack (node:tls, Node's bundled OpenSSL driven by TLSWrap) on loopback:
// our server with node:tls clients and our client with node:tls servers, TLS 1.2 and 1.3, with and
// without a client certificate. Each case checks the negotiated version, what each side authorized,
// the peer certificate subjects, and an echo of 64 KiB that proves data flows both ways in order.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import * as tls from 'node:tls';
import { connect, createServer, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { pemChain } from './helpers/owned';
import { collect, echoWithGreeting, listenLoopback, waitFor } from './helpers/interop-net';

const versions = ['TLSv1.2', 'TLSv1.3'] as const;
const GREETING = 'hello from the server\n';

for (const version of versions) {
  for (const clientCert of [true, false]) {
    const label = `${version}, ${clientCert ? 'client certificate' : 'no client certificate'}`;

    t.test(`our server, node:tls client (${label})`, async (t) => {
      const server = createServer(
        {
          key: certs.serverKey,
          cert: certs.serverChain,
          ca: certs.ca,
          // Without a client certificate the server does not ask for one: plain server-auth TLS.
          requestCert: clientCert,
          rejectUnauthorized: clientCert,
          minVersion: version,
          maxVersion: version,
        },
        (socket) => echoWithGreeting(socket, GREETING),
      );
      const port = await listenLoopback(t, server);
      const accepted = waitFor<[TLSSocket]>(server, 'secureConnection');

      const client = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: certs.ca,
        minVersion: version,
        maxVersion: version,
        ...(clientCert ? { key: certs.clientKey, cert: certs.clientChain } : {}),
      });
      t.teardown(() => client.destroy());
      await waitFor(client, 'secureConnect');
      const [ours] = await accepted;

      t.equal(client.getProtocol(), version, 'node:tls negotiated the pinned version');
      t.equal(ours.getProtocol(), version, 'our server reports the same version');
      t.equal(client.authorized, true, 'node:tls verified our server chain (leaf + intermediate) to the root');
      t.equal(client.getPeerCertificate().subject.CN, 'localhost');
      if (clientCert) {
        t.equal(ours.authorized, true, 'our server verified the node:tls client certificate');
        t.equal(ours.authorizationError, null);
        t.equal((ours.getPeerCertificate() as tls.PeerCertificate).subject.CN, 'alice');
        t.match(ours.getPeerX509Certificate()?.subject, /CN=alice/);
        t.equal(ours.getPeerCertificateChain().length, 2, 'leaf and intermediate as sent by node:tls');
      } else {
        t.equal(ours.authorized, false, 'no client certificate: not authorized');
        t.same(ours.getPeerCertificate(), {});
        t.equal(ours.getPeerX509Certificate(), undefined);
      }
      t.equal(client.getCipher().standardName, ours.getCipher()?.standardName, 'both sides agree on the cipher');

      const payload = randomBytes(64 * 1024);
      const received = await collect(client, payload, GREETING.length + payload.length);
      t.equal(received.subarray(0, GREETING.length).toString(), GREETING, 'server -> client');
      t.ok(received.subarray(GREETING.length).equals(payload), 'client -> server -> client, 64 KiB echoed intact');
    });

    t.test(`our client, node:tls server (${label})`, async (t) => {
      const server = tls.createServer(
        {
          key: certs.serverKey,
          cert: certs.serverChain,
          ca: certs.ca,
          requestCert: clientCert,
          rejectUnauthorized: clientCert,
          minVersion: version,
          maxVersion: version,
        },
        (socket) => echoWithGreeting(socket, GREETING),
      );
      const port = await listenLoopback(t, server);
      const accepted = waitFor<[tls.TLSSocket]>(server, 'secureConnection');

      const client = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: certs.ca,
        minVersion: version,
        maxVersion: version,
        ...(clientCert ? { key: certs.clientKey, cert: certs.clientChain } : {}),
      });
      t.teardown(() => client.destroy());
      await waitFor(client, 'secureConnect');
      const [theirs] = await accepted;

      t.equal(client.getProtocol(), version, 'our client negotiated the pinned version');
      t.equal(theirs.getProtocol(), version, 'node:tls reports the same version');
      t.equal(client.authorized, true, 'our client verified the node:tls server chain to the root');
      t.equal(client.authorizationError, null);
      t.equal((client.getPeerCertificate() as tls.PeerCertificate).subject.CN, 'localhost');
      t.same(
        client.getPeerCertificateChain().map((certificate) => certificate.subject),
        pemChain(certs.serverChain).map((certificate) => certificate.subject),
        'leaf and intermediate as node:tls sent them, the leaf once',
      );
      t.equal(client.servername, 'localhost');
      if (clientCert) {
        t.equal(theirs.authorized, true, 'node:tls verified our client certificate');
        t.equal(theirs.getPeerCertificate().subject.CN, 'alice');
        t.equal(client.getX509Certificate()?.subject, 'CN=alice', 'our client presented its identity');
      } else {
        t.equal(theirs.authorized, false);
        t.same(theirs.getPeerCertificate(), {}, 'node:tls saw no client certificate');
      }
      t.equal(client.getCipher()?.standardName, theirs.getCipher().standardName, 'both sides agree on the cipher');

      const payload = randomBytes(64 * 1024);
      const received = await collect(client, payload, GREETING.length + payload.length);
      t.equal(received.subarray(0, GREETING.length).toString(), GREETING, 'server -> client');
      t.ok(received.subarray(GREETING.length).equals(payload), 'client -> server -> client, 64 KiB echoed intact');
    });
  }
}
