// The handshake as node:tls users know it: authorized / authorizationError, rejection with the
// OpenSSL reason and an alert, peer certificate views, protocol/cipher, keying material export,
// ALPN, SNI and session resumption (which revalidates the resumed certificate).
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { createServer, connect, createSecureContext, type TLSSocket } from '../dist/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import type { Server, ServerOptions } from '../dist/server.js';
import type { ConnectOptions } from '../dist/client.js';
import { certs } from './helpers/certs';
import { listen, waitFor, closed, SOON } from './helpers/owned';

type CodedError = Error & { code?: string; reason?: string; library?: string; verifyError?: string };

const mtlsServer: ServerOptions = { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true };

function nodeClient(port: number, options: tls.ConnectionOptions = {}): tls.TLSSocket {
  const socket = tls.connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ...options,
  });
  t.teardown(() => socket.destroy());
  return socket;
}

function ourClient(port: number, options: Partial<ConnectOptions> = {}): TLSSocket {
  const socket = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ...options,
  });
  t.teardown(() => socket.destroy());
  return socket;
}

/** The next secureConnection or tlsClientError of a server. */
function nextOutcome(server: Server): Promise<{ socket?: TLSSocket; error?: CodedError }> {
  return new Promise((resolve) => {
    const onSecure = (socket: TLSSocket): void => {
      cleanup();
      resolve({ socket });
    };
    const onError = (error: CodedError): void => {
      cleanup();
      resolve({ error });
    };
    const cleanup = (): void => {
      server.off('secureConnection', onSecure);
      server.off('tlsClientError', onError);
    };
    server.on('secureConnection', onSecure);
    server.on('tlsClientError', onError);
  });
}

/** node:tls' exportKeyingMaterial with no context argument (its types make the context mandatory). */
function exportWithoutContext(socket: tls.TLSSocket, length: number, label: string): Buffer {
  return (socket.exportKeyingMaterial as (length: number, label: string) => Buffer).call(socket, length, label);
}

/** The error a node:tls client ends with (TLS 1.3 clients may first see secureConnect). */
function clientFailure(socket: tls.TLSSocket | TLSSocket): Promise<CodedError> {
  return waitFor<[CodedError]>(socket, 'error', SOON).then(([error]) => error);
}

t.test('requestCert without rejectUnauthorized: an unknown-CA client connects, unauthorized', async (t) => {
  const server = createServer({ ...mtlsServer, rejectUnauthorized: false });
  const port = await listen(t, server);
  const outcome = nextOutcome(server);
  const client = nodeClient(port, { key: certs.clientWrongCaKey, cert: certs.clientWrongCaChain });
  const { socket } = await outcome;
  t.ok(socket, 'secureConnection');
  t.equal(socket!.authorized, false);
  t.equal(socket!.authorizationError, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  // The connection carries data.
  socket!.on('data', (data: Buffer) => socket!.write(data));
  client.write('ping');
  const [echo] = await waitFor<[Buffer]>(client, 'data', SOON);
  t.equal(echo.toString(), 'ping');

  const good = nextOutcome(server);
  nodeClient(port);
  const { socket: trusted } = await good;
  t.equal(trusted!.authorized, true);
  t.equal(trusted!.authorizationError, null);

  const none = nextOutcome(server);
  nodeClient(port, { key: undefined, cert: undefined });
  const { socket: anonymous } = await none;
  t.equal(anonymous!.authorized, false, 'no certificate: not authorized');
  t.equal(anonymous!.authorizationError, 'NO_PEER_CERTIFICATE');
});

t.test('rejectUnauthorized: tlsClientError with the OpenSSL reason, and the client gets an alert', async (t) => {
  const server = createServer({ ...mtlsServer, rejectUnauthorized: true });
  const port = await listen(t, server);
  const outcome = nextOutcome(server);
  const client = nodeClient(port, { key: certs.clientWrongCaKey, cert: certs.clientWrongCaChain });
  const failure = clientFailure(client);
  const { socket, error } = await outcome;
  t.equal(socket, undefined, 'no secureConnection');
  t.match(error, {
    code: 'ERR_CTLS_CERT_VERIFY',
    reason: 'certificate verify failed',
    library: 'SSL routines',
    verifyError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  });
  t.match((await failure).code, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'unknown_ca alert (RFC 8446 section 6.2)');
  t.equal(server.connections().length, 0, 'the rejected connection is gone');
});

t.test('our client: server verification and authorized', async (t) => {
  const server = createServer(mtlsServer);
  const port = await listen(t, server);
  const good = ourClient(port);
  await waitFor(good, 'secureConnect', SOON);
  t.equal(good.authorized, true);
  t.equal(good.authorizationError, null);
  t.equal(good.encrypted, true);

  const untrusting = ourClient(port, { ca: certs.wrongCa });
  const [error] = await waitFor<[CodedError]>(untrusting, 'error', SOON);
  t.match(error, {
    code: 'ERR_CTLS_CERT_VERIFY',
    verifyError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    reason: 'certificate verify failed',
  });

  const lenient = ourClient(port, { ca: certs.wrongCa, rejectUnauthorized: false });
  await waitFor(lenient, 'secureConnect', SOON);
  t.equal(lenient.authorized, false);
  t.equal(lenient.authorizationError, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');

  const wrongName = ourClient(port, { servername: 'not-this-host.example' });
  const [mismatch] = await waitFor<[CodedError]>(wrongName, 'error', SOON);
  t.match(mismatch, { code: 'ERR_CTLS_HOSTNAME_MISMATCH' });

  const lenientName = ourClient(port, { servername: 'not-this-host.example', rejectUnauthorized: false });
  await waitFor(lenientName, 'secureConnect', SOON);
  t.equal(lenientName.authorized, false);
  t.equal(lenientName.authorizationError, 'ERR_TLS_CERT_ALTNAME_INVALID', "node's code as authorizationError");
});

t.test('our client checks the server certificate against an IP host too (no SNI sent)', async (t) => {
  const ca = await DevelopmentCA.create();
  const elsewhere = await ca.issueServer({ commonName: 'elsewhere', altNames: ['elsewhere.test'] });
  const server = createServer({ key: elsewhere.key, cert: elsewhere.chain });
  server.on('tlsClientError', () => {});
  const port = await listen(t, server);
  const byIp = connect({ port, host: '127.0.0.1', ca: ca.rootCert });
  t.teardown(() => byIp.destroy());
  const [error] = await waitFor<[CodedError]>(byIp, 'error', SOON);
  t.match(
    error,
    { code: 'ERR_CTLS_HOSTNAME_MISMATCH', message: /127\.0\.0\.1/ },
    'the certificate does not name 127.0.0.1',
  );

  const named = await ca.issueServer({ commonName: 'loopback', altNames: ['127.0.0.1'] });
  const good = createServer({ key: named.key, cert: named.chain });
  const goodPort = await listen(t, good);
  const ok = connect({ port: goodPort, host: '127.0.0.1', ca: ca.rootCert });
  t.teardown(() => ok.destroy());
  await waitFor(ok, 'secureConnect', SOON);
  t.equal(ok.authorized, true, 'a certificate with the IP in its SAN passes');
  t.equal(ok.servername, false, 'and no SNI was sent for an IP address');
});

t.test('getPeerCertificate / getPeerX509Certificate look like node:tls', async (t) => {
  // The same certificates through node:tls, as the reference shape.
  const reference = tls.createServer(mtlsServer as tls.TlsOptions);
  const referencePort = await listen(t, reference);
  const referenceSeen = waitFor<[tls.TLSSocket]>(reference, 'secureConnection', SOON);
  nodeClient(referencePort);
  const [nodeSide] = await referenceSeen;
  const expected = nodeSide.getPeerCertificate(true);

  const server = createServer(mtlsServer);
  const port = await listen(t, server);
  const outcome = nextOutcome(server);
  const client = ourClient(port);
  const clientSecure = waitFor(client, 'secureConnect', SOON);
  const { socket } = await outcome;
  const plain = socket!.getPeerCertificate() as tls.PeerCertificate;
  const detailed = socket!.getPeerCertificate(true) as tls.DetailedPeerCertificate;
  t.same(
    Object.keys(plain).sort(),
    Object.keys(expected)
      .filter((key) => key !== 'issuerCertificate')
      .sort(),
    'the same fields as node',
  );
  // Node 24.x / 26.8+ lose a client's intermediates on the server side (nodejs/node#65579), so its
  // reference may lack issuerCertificate: the chain itself is checked by name below.
  t.same(Object.keys(detailed).sort(), [...new Set([...Object.keys(expected), 'issuerCertificate'])].sort());
  t.equal(plain.subject.CN, 'alice');
  t.equal(plain.issuer.CN, expected.issuer.CN);
  t.equal(plain.valid_to, expected.valid_to);
  t.equal(plain.fingerprint256, expected.fingerprint256);
  t.equal(plain.serialNumber, expected.serialNumber);
  t.ok(Buffer.isBuffer(plain.raw) && plain.raw.equals(expected.raw), 'raw DER');
  t.notOk('issuerCertificate' in plain, 'not detailed: no issuerCertificate');

  // The detailed chain runs to the root, which is its own issuer, like node's.
  const names = (start: tls.DetailedPeerCertificate): string[] => {
    const out: string[] = [];
    let current: tls.DetailedPeerCertificate | undefined = start;
    while (current !== undefined && out.length < 10) {
      out.push(current.subject.CN as string);
      if (current.issuerCertificate === current) break;
      current = current.issuerCertificate;
    }
    return out;
  };
  t.same(
    names(detailed),
    ['alice', 'continuous-tls test intermediate CA', 'continuous-tls test root CA'],
    'leaf -> intermediate -> root',
  );
  if (expected.issuerCertificate !== undefined) t.same(names(detailed), names(expected), "as node's");
  t.equal(
    detailed.issuerCertificate.issuerCertificate.issuerCertificate,
    detailed.issuerCertificate.issuerCertificate,
    'the root ends the chain',
  );

  const x509 = socket!.getPeerX509Certificate();
  t.ok(x509 instanceof X509Certificate, 'a crypto.X509Certificate');
  t.equal(x509!.fingerprint256, expected.fingerprint256);
  t.ok(socket!.getX509Certificate() instanceof X509Certificate, 'our own certificate too');

  // And from the client's side, the server's certificate.
  await clientSecure;
  const serverCert = client.getPeerCertificate(true) as tls.DetailedPeerCertificate;
  t.equal(serverCert.subject.CN, 'localhost');
  t.match(serverCert.subjectaltname, /DNS:localhost/);
  t.equal(client.getPeerX509Certificate()?.subject, new X509Certificate(certs.serverCert).subject);
});

t.test('getProtocol, getCipher and exportKeyingMaterial match the node:tls peer', async (t) => {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    const server = createServer({ ...mtlsServer, maxVersion: version });
    const port = await listen(t, server);
    const outcome = nextOutcome(server);
    const client = nodeClient(port);
    await waitFor(client, 'secureConnect', SOON);
    const { socket } = await outcome;
    t.equal(socket!.getProtocol(), version, `${version}: protocol`);
    t.equal(client.getProtocol(), version);
    t.match(socket!.getCipher(), {
      name: client.getCipher().name,
      standardName: client.getCipher().standardName,
      version: client.getCipher().version,
    });
    const context = Buffer.from('continuous-tls test context');
    const ours = socket!.exportKeyingMaterial(48, 'EXPERIMENTAL-continuous-tls', context);
    const theirs = client.exportKeyingMaterial(48, 'EXPERIMENTAL-continuous-tls', context);
    t.ok(ours.equals(theirs), `${version}: keying material with a context`);
    t.ok(
      socket!.exportKeyingMaterial(32, 'EXPERIMENTAL-x').equals(exportWithoutContext(client, 32, 'EXPERIMENTAL-x')),
      `${version}: without a context`,
    );
    t.throws(() => socket!.exportKeyingMaterial(0, 'x'), { code: 'ERR_CTLS_INVALID_OPTION' });
    // A length past 32 bits would wrap in the addon (2 ** 32 + 16 gave 16 bytes): refused.
    t.throws(() => socket!.exportKeyingMaterial(2 ** 32 + 16, 'x'), { code: 'ERR_CTLS_INVALID_OPTION' });
    const long = socket!.exportKeyingMaterial(8_160, 'EXPERIMENTAL-x');
    t.equal(long.length, 8_160, 'long outputs (TLS 1.3 allows up to 255 hash lengths)');
  }

  // Our client against a node:tls server.
  const nodeServer = tls.createServer(mtlsServer as tls.TlsOptions);
  const nodePort = await listen(t, nodeServer);
  const seen = waitFor<[tls.TLSSocket]>(nodeServer, 'secureConnection', SOON);
  const client = ourClient(nodePort);
  await waitFor(client, 'secureConnect', SOON);
  const [peer] = await seen;
  t.ok(
    client.exportKeyingMaterial(32, 'EXPERIMENTAL-y').equals(exportWithoutContext(peer, 32, 'EXPERIMENTAL-y')),
    'our client side',
  );
  t.equal(client.getProtocol(), peer.getProtocol());
});

t.test('ALPN: negotiated on both sides; no overlap is a handshake failure', async (t) => {
  const server = createServer({ ...mtlsServer, ALPNProtocols: ['h2', 'http/1.1'] });
  const port = await listen(t, server);

  const outcome = nextOutcome(server);
  const client = nodeClient(port, { ALPNProtocols: ['http/1.1'] });
  await waitFor(client, 'secureConnect', SOON);
  const { socket } = await outcome;
  t.equal(socket!.alpnProtocol, 'http/1.1');
  t.equal(client.alpnProtocol, 'http/1.1');

  const preferred = nextOutcome(server);
  const ours = ourClient(port, { ALPNProtocols: ['http/1.1', 'h2'] });
  await waitFor(ours, 'secureConnect', SOON);
  t.equal(ours.alpnProtocol, 'h2', 'the server picks by its own preference');
  t.equal((await preferred).socket!.alpnProtocol, 'h2');

  const none = nextOutcome(server);
  const silent = nodeClient(port);
  await waitFor(silent, 'secureConnect', SOON);
  t.equal((await none).socket!.alpnProtocol, false, 'a client that offers no ALPN gets none');

  const mismatch = nextOutcome(server);
  const stranger = nodeClient(port, { ALPNProtocols: ['spdy/1'] });
  const failure = clientFailure(stranger);
  t.match((await mismatch).error, { code: 'ERR_SSL_NO_APPLICATION_PROTOCOL' });
  t.match(await failure, { code: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' });
});

t.test('SNI: servername, SNICallback choosing the identity, SNICallback errors', async (t) => {
  const rsaContext = createSecureContext({ key: certs.serverRsaKey, cert: certs.serverRsaChain, ca: certs.ca }, true);
  const asked: string[] = [];
  const server = createServer({
    ...mtlsServer,
    SNICallback: (servername, callback) => {
      asked.push(servername);
      if (servername === 'broken.test') callback(new Error('no such site'));
      else if (servername === 'rsa.test')
        setTimeout(() => callback(null, rsaContext), 10); // asynchronous on purpose
      else callback(null);
    },
  });
  const port = await listen(t, server);
  const skipName = { checkServerIdentity: () => undefined };

  const plain = nextOutcome(server);
  const first = nodeClient(port);
  await waitFor(first, 'secureConnect', SOON);
  t.equal((await plain).socket!.servername, 'localhost');
  t.equal(first.getPeerX509Certificate()?.publicKey.asymmetricKeyType, 'ec', 'the default identity');

  const switched = nextOutcome(server);
  const rsa = nodeClient(port, { servername: 'rsa.test', ...skipName });
  await waitFor(rsa, 'secureConnect', SOON);
  const { socket } = await switched;
  t.equal(socket!.servername, 'rsa.test');
  t.equal(
    rsa.getPeerX509Certificate()?.publicKey.asymmetricKeyType,
    'rsa',
    'the SNICallback context served the certificate',
  );
  t.equal(socket!.authorized, true, "the client certificate is verified with the SNI context's own CAs");

  const failing = nextOutcome(server);
  const broken = nodeClient(port, { servername: 'broken.test', ...skipName });
  const brokenFailure = clientFailure(broken).catch((error: Error) => error);
  t.match((await failing).error, { message: 'no such site' }, 'the callback error is the tlsClientError');
  t.ok(await brokenFailure, 'the client fails too');

  const noName = nextOutcome(server);
  const ipOnly = nodeClient(port, { servername: '', ...skipName });
  await waitFor(ipOnly, 'secureConnect', SOON);
  t.equal((await noName).socket!.servername, false, 'no SNI: servername false');
  t.same(asked, ['localhost', 'rsa.test', 'broken.test'], 'the callback runs only when a name is sent');
});

t.test('session resumption with tickets, TLS 1.3 and 1.2', async (t) => {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    t.test(version, async (t) => {
      const server = createServer({ ...mtlsServer, maxVersion: version });
      const port = await listen(t, server);

      const firstSeen = nextOutcome(server);
      const first = ourClient(port, { maxVersion: version });
      const sessionEvent = waitFor<[Buffer]>(first, 'session', SOON);
      await waitFor(first, 'secureConnect', SOON);
      const [session] = await sessionEvent;
      t.ok(Buffer.isBuffer(session) && session.length > 0, "the 'session' event");
      t.equal(first.isSessionReused(), false);
      t.equal((await firstSeen).socket!.isSessionReused(), false);
      t.ok(first.getSession()?.length, 'getSession()');
      first.end();
      await closed(first);

      for (const [label, saved] of [
        ['from the session event', session],
        ['from getSession()', first.getSession()!],
      ] as const) {
        const seen = nextOutcome(server);
        const again = ourClient(port, { maxVersion: version, session: saved });
        await waitFor(again, 'secureConnect', SOON);
        const { socket } = await seen;
        t.equal(again.isSessionReused(), true, `${label}: client side reused`);
        t.equal(socket!.isSessionReused(), true, `${label}: server side reused`);
        t.equal(socket!.authorized, true, `${label}: still authorized`);
        t.equal(again.authorized, true, `${label}: the client revalidated the server`);
        t.equal(socket!.getPeerX509Certificate()?.subject, 'CN=alice', 'the resumed peer certificate');
        again.destroy();
      }

      // Without a session: a full handshake.
      const fresh = ourClient(port, { maxVersion: version });
      await waitFor(fresh, 'secureConnect', SOON);
      t.equal(fresh.isSessionReused(), false);
    });
  }
});

t.test('ticketKeys and sessionTimeout govern which sessions resume', async (t) => {
  const keys = Buffer.alloc(80, 1);
  const issuer = createServer({ ...mtlsServer, ticketKeys: keys });
  const issuerPort = await listen(t, issuer);
  t.ok(issuer.getTicketKeys()?.equals(keys), 'getTicketKeys returns the configured keys');
  const first = ourClient(issuerPort);
  const [session] = await waitFor<[Buffer]>(first, 'session', SOON);
  first.destroy();

  const attempt = async (port: number): Promise<boolean> => {
    const client = ourClient(port, { session });
    await waitFor(client, 'secureConnect', SOON);
    const reused = client.isSessionReused();
    client.destroy();
    return reused;
  };
  const sibling = createServer({ ...mtlsServer, ticketKeys: keys });
  t.equal(await attempt(await listen(t, sibling)), true, 'a server with the same ticket keys resumes it');
  const stranger = createServer({ ...mtlsServer, ticketKeys: Buffer.alloc(80, 2) });
  t.equal(await attempt(await listen(t, stranger)), false, 'a server with other keys makes a full handshake');
  const rotated = createServer({ ...mtlsServer, ticketKeys: keys });
  const rotatedPort = await listen(t, rotated);
  rotated.setTicketKeys(Buffer.alloc(80, 3));
  t.equal(await attempt(rotatedPort), false, 'after setTicketKeys the old tickets are refused');

  const shortLived = createServer({ ...mtlsServer, sessionTimeout: 1 });
  const shortPort = await listen(t, shortLived);
  const client = ourClient(shortPort);
  const [shortSession] = await waitFor<[Buffer]>(client, 'session', SOON);
  client.destroy();
  const quick = ourClient(shortPort, { session: shortSession });
  await waitFor(quick, 'secureConnect', SOON);
  t.equal(quick.isSessionReused(), true, 'resumed within sessionTimeout');
  quick.destroy();
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const late = ourClient(shortPort, { session: shortSession });
  await waitFor(late, 'secureConnect', SOON);
  t.equal(late.isSessionReused(), false, 'not resumed once sessionTimeout (1 s) has passed');
});

t.test('a resumed session is revalidated: a since-revoked client certificate is not authorized', async (t) => {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    t.test(version, async (t) => {
      const server = createServer({ ...mtlsServer, maxVersion: version, rejectUnauthorized: false });
      const port = await listen(t, server);
      const revokedIdentity = { key: certs.clientRevokedKey, cert: certs.clientRevokedChain };

      const firstSeen = nextOutcome(server);
      const first = ourClient(port, { maxVersion: version, ...revokedIdentity });
      const [session] = await waitFor<[Buffer]>(first, 'session', SOON);
      t.equal((await firstSeen).socket!.authorized, true, 'not revoked yet');
      first.destroy();

      server.setCrl(certs.crl);
      const seen = nextOutcome(server);
      const resumed = ourClient(port, { maxVersion: version, session, ...revokedIdentity });
      resumed.on('error', () => {});
      const { socket, error } = await seen;
      t.equal(error, undefined);
      t.equal(socket!.isSessionReused(), true, 'the session was resumed');
      t.equal(socket!.authorized, false, 'but the certificate is not authorized');
      t.equal(socket!.authorizationError, 'CERT_REVOKED');

      // With rejectUnauthorized the resumption is refused outright.
      const strict = createServer({ ...mtlsServer, maxVersion: version, ticketKeys: server.getTicketKeys()! });
      const strictPort = await listen(t, strict);
      const strictSeen = nextOutcome(strict);
      const refused = ourClient(strictPort, { maxVersion: version, session, ...revokedIdentity });
      refused.on('error', () => {});
      strict.setCrl(certs.crl);
      t.match(
        (await strictSeen).error,
        { code: 'ERR_CTLS_CERT_VERIFY', reason: 'CERT_REVOKED' },
        'tlsClientError on the resumed revoked session',
      );
    });
  }
});
