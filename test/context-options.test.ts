// createSecureContext / createServer options: identities, trust, validation errors that name the
// option, a trust store replaced on a live context, and verifyChain() without a handshake.
import t from 'tap';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createServer, createSecureContext, connect, type TLSSocket } from '../dist/index.js';
import type { ServerOptions } from '../dist/server.js';
import { certs, serverKeyPassphrase } from './helpers/certs';
import { derChain, duplexPair, listen, waitFor, closed, SOON } from './helpers/owned';

const serverIdentity = { key: certs.serverKey, cert: certs.serverChain };

/** Connects a node:tls client and resolves with the server certificate's key type once secure. */
async function serverKeyType(port: number, options: tls.ConnectionOptions): Promise<string | undefined> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca, ...options });
  t.teardown(() => socket.destroy());
  await waitFor(socket, 'secureConnect', SOON);
  const type = socket.getPeerX509Certificate()?.publicKey.asymmetricKeyType;
  socket.destroy();
  return type;
}

/** Outcome of an mTLS attempt by our client with the given identity. */
async function attempt(
  server: ReturnType<typeof createServer>,
  port: number,
  key: string,
  cert: string,
): Promise<{ ok: boolean; error?: Error & { code?: string; verifyError?: string } }> {
  const serverSide = new Promise<{ ok: boolean; error?: Error & { code?: string; verifyError?: string } }>(
    (resolve) => {
      const onSecure = (socket: TLSSocket): void => {
        cleanup();
        resolve({ ok: socket.authorized });
      };
      const onError = (error: Error): void => {
        cleanup();
        resolve({ ok: false, error });
      };
      const cleanup = (): void => {
        server.off('secureConnection', onSecure);
        server.off('tlsClientError', onError);
      };
      server.on('secureConnection', onSecure);
      server.on('tlsClientError', onError);
    },
  );
  const client = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca, key, cert });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const outcome = await serverSide;
  client.destroy();
  await closed(client);
  return outcome;
}

t.test('key and cert: PEM strings, Buffers and an encrypted key with its passphrase', async (t) => {
  t.ok(createSecureContext(serverIdentity, true), 'PEM strings');
  t.ok(
    createSecureContext({ key: Buffer.from(certs.serverKey), cert: Buffer.from(certs.serverChain) }, true),
    'Buffers',
  );
  const encrypted = createServer({
    key: certs.serverKeyEncrypted,
    passphrase: serverKeyPassphrase,
    cert: certs.serverChain,
  });
  const port = await listen(t, encrypted);
  t.equal(await serverKeyType(port, {}), 'ec', 'the server works with the decrypted key');
  t.ok(
    createSecureContext(
      { key: [{ pem: certs.serverKeyEncrypted, passphrase: serverKeyPassphrase }], cert: [certs.serverChain] },
      true,
    ),
    'a passphrase per key object',
  );
  t.throws(
    () => createSecureContext({ key: certs.serverKeyEncrypted, passphrase: 'wrong', cert: certs.serverChain }, true),
    {
      code: 'ERR_CTLS_BAD_PEM',
      message: /"key"/,
    },
  );
  t.throws(
    () => createSecureContext({ key: certs.serverKeyEncrypted, cert: certs.serverChain }, true),
    {
      code: 'ERR_CTLS_BAD_PEM',
      message: /"key"/,
    },
    'no passphrase for an encrypted key',
  );
  t.throws(
    () => createSecureContext({ key: certs.clientKey, cert: certs.serverChain }, true),
    {
      code: 'ERR_CTLS_BAD_PEM',
      message: /mismatch.*"key"/,
    },
    'a key that does not match its certificate',
  );
});

t.test('several identities: the RSA certificate for an RSA-only client, ECDSA otherwise', async (t) => {
  const server = createServer({
    key: [certs.serverKey, certs.serverRsaKey],
    cert: [certs.serverChain, certs.serverRsaChain],
  });
  const port = await listen(t, server);
  t.equal(await serverKeyType(port, {}), 'ec', 'default client: ECDSA');
  t.equal(
    await serverKeyType(port, { sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' }),
    'rsa',
    'TLS 1.3, RSA signature algorithms only',
  );
  t.equal(await serverKeyType(port, { sigalgs: 'ecdsa_secp256r1_sha256' }), 'ec', 'TLS 1.3, ECDSA only');
  t.equal(
    await serverKeyType(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }),
    'rsa',
    'TLS 1.2, RSA cipher suite only',
  );
  t.equal(
    await serverKeyType(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }),
    'ec',
    'TLS 1.2, ECDSA cipher suite only',
  );
});

t.test('ca: one or many, and CRLs', async (t) => {
  const one = createServer({ ...serverIdentity, ca: certs.ca, requestCert: true, rejectUnauthorized: false });
  const onePort = await listen(t, one);
  t.same(await attempt(one, onePort, certs.clientKey, certs.clientChain), { ok: true }, 'one CA: its client verifies');
  t.same(
    await attempt(one, onePort, certs.clientWrongCaKey, certs.clientWrongCaChain),
    { ok: false },
    'one CA: the other is not authorized',
  );

  const many = createServer({
    ...serverIdentity,
    ca: [certs.wrongCa, certs.ca],
    requestCert: true,
    rejectUnauthorized: false,
  });
  const manyPort = await listen(t, many);
  t.same(await attempt(many, manyPort, certs.clientKey, certs.clientChain), { ok: true }, 'two CAs: the first client');
  t.same(
    await attempt(many, manyPort, certs.clientWrongCaKey, certs.clientWrongCaChain),
    { ok: true },
    'two CAs: the second client',
  );

  const withCrl = createServer({ ...serverIdentity, ca: certs.ca, crl: certs.crl, requestCert: true });
  const crlPort = await listen(t, withCrl);
  t.same(await attempt(withCrl, crlPort, certs.clientKey, certs.clientChain), { ok: true }, 'a client not in the CRL');
  const revoked = await attempt(withCrl, crlPort, certs.clientRevokedKey, certs.clientRevokedChain);
  t.equal(revoked.ok, false, 'the revoked client is refused');
  t.match(revoked.error, { code: 'ERR_CTLS_CERT_VERIFY', verifyError: 'CERT_REVOKED' });
});

t.test('bad PEM: ERR_CTLS_BAD_PEM naming the option', async (t) => {
  const garbage = 'not a PEM at all';
  const brokenBody = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  const cases: Array<[string, ServerOptions]> = [
    ['key', { key: garbage, cert: certs.serverChain }],
    ['cert', { key: certs.serverKey, cert: garbage }],
    ['cert', { key: certs.serverKey, cert: brokenBody }],
    ['ca', { ...serverIdentity, ca: garbage }],
    ['ca', { ...serverIdentity, ca: brokenBody }],
    ['crl', { ...serverIdentity, ca: certs.ca, crl: garbage }],
    ['crl', { ...serverIdentity, ca: certs.ca, crl: certs.ca }],
    ['key[1]', { key: [certs.serverKey, garbage], cert: [certs.serverChain, certs.serverRsaChain] }],
    ['cert[1]', { key: [certs.serverKey, certs.serverRsaKey], cert: [certs.serverChain, garbage] }],
  ];
  for (const [option, options] of cases) {
    t.throws(
      () => createServer(options),
      { code: 'ERR_CTLS_BAD_PEM', message: new RegExp(`"${option.replace(/[[\]]/g, '\\$&')}"`) },
      option,
    );
  }
  // The same names when the trust store is replaced later.
  const context = createSecureContext({ ...serverIdentity, ca: certs.ca }, true);
  t.throws(() => context.setCa(garbage), { code: 'ERR_CTLS_BAD_PEM', message: /"ca"/ });
  t.throws(() => context.setCrl(garbage), { code: 'ERR_CTLS_BAD_PEM', message: /"crl"/ });
  t.ok(context.verifyChain(derChain(certs.clientChain)).ok, 'a failed replacement keeps the store in force');
});

t.test('connect() with a bad identity throws ERR_CTLS_BAD_PEM and leaves no connection behind', async (t) => {
  // A port with nobody listening: an orphaned transport would die of an unhandled ECONNREFUSED.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const cases: Array<[string, { key: string; cert: string }]> = [
    ['key', { key: 'not a key', cert: certs.clientChain }],
    ['cert', { key: certs.clientKey, cert: 'not a certificate' }],
    ['key', { key: certs.serverKey, cert: certs.clientChain }],
  ];
  for (const [option, identity] of cases) {
    t.throws(() => connect({ port, host: '127.0.0.1', ...identity }), {
      code: 'ERR_CTLS_BAD_PEM',
      message: new RegExp(`"${option}"`),
    });
  }
  // The caller's own transport is not closed for them.
  const [mine] = duplexPair();
  t.throws(() => connect({ socket: mine, key: 'not a key', cert: certs.clientChain }), { code: 'ERR_CTLS_BAD_PEM' });
  t.equal(mine!.destroyed, false, 'a transport passed in stays open');
  mine!.destroy();
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.pass('no unhandled transport error');
});

t.test('bad options: ERR_CTLS_INVALID_OPTION naming the option', async (t) => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['minVersion', { minVersion: 'TLSv1' }],
    ['maxVersion', { maxVersion: 'SSLv3' }],
    ['minVersion', { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' }],
    ['ciphers', { ciphers: 'NOPE' }],
    ['ciphersuites', { ciphersuites: 'TLS_NOPE' }],
    ['ecdhCurve', { ecdhCurve: 'nope' }],
    ['ALPNProtocols', { ALPNProtocols: [''] }],
    ['ALPNProtocols', { ALPNProtocols: 'h2' }],
    ['sessionTimeout', { sessionTimeout: -1 }],
    ['ticketKeys', { ticketKeys: Buffer.alloc(48) }],
    ['requestCert', { requestCert: 'yes' }],
    ['rejectUnauthorized', { rejectUnauthorized: 1 }],
    ['handshakeTimeout', { handshakeTimeout: -5 }],
    ['SNICallback', { SNICallback: 'nope' }],
    ['revocation', { revocation: 'sometimes' }],
  ];
  for (const [option, bad] of cases) {
    t.throws(
      () => createServer({ ...serverIdentity, ...bad } as ServerOptions),
      { code: 'ERR_CTLS_INVALID_OPTION', message: new RegExp(`"${option}"`) },
      `${option}: ${JSON.stringify(bad)}`,
    );
  }
  t.throws(() => connect({ port: 1, rejectUnauthorized: 'no' as unknown as boolean }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /"rejectUnauthorized"/,
  });
  t.throws(() => connect({ port: 1, ciphers: 'NOPE' }), { code: 'ERR_CTLS_INVALID_OPTION', message: /"ciphers"/ });
  // Good values of the same options are accepted.
  t.ok(
    createServer({
      ...serverIdentity,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
      ciphersuites: 'TLS_AES_128_GCM_SHA256',
      ecdhCurve: 'X25519:P-256',
      ALPNProtocols: ['h2', 'http/1.1'],
      sessionTimeout: 60,
      ticketKeys: Buffer.alloc(80, 7),
      requestCert: true,
      rejectUnauthorized: false,
    }),
  );
});

t.test('versions, ciphers, ciphersuites and groups take effect on the wire', async (t) => {
  const server = createServer({
    ...serverIdentity,
    maxVersion: 'TLSv1.2',
    ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305',
    ecdhCurve: 'P-384',
  });
  const port = await listen(t, server);
  const client = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca });
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  t.equal(client.getProtocol(), 'TLSv1.2');
  t.equal(client.getCipher().name, 'ECDHE-ECDSA-CHACHA20-POLY1305');
  t.match(client.getEphemeralKeyInfo(), { name: 'secp384r1' });
  client.destroy();

  const v13 = createServer({ ...serverIdentity, minVersion: 'TLSv1.3', ciphersuites: 'TLS_CHACHA20_POLY1305_SHA256' });
  const v13Port = await listen(t, v13);
  const modern = tls.connect({ port: v13Port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca });
  t.teardown(() => modern.destroy());
  await waitFor(modern, 'secureConnect', SOON);
  t.equal(modern.getProtocol(), 'TLSv1.3');
  t.equal(modern.getCipher().name, 'TLS_CHACHA20_POLY1305_SHA256');
  modern.destroy();

  const old = tls.connect({
    port: v13Port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    maxVersion: 'TLSv1.2',
  });
  const [error] = await waitFor<[Error & { code?: string }]>(old, 'error', SOON).catch((e: Error) => [e] as [Error]);
  t.match(
    error,
    { code: /ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ECONNRESET/ },
    'a TLS 1.2 client is refused by a TLS 1.3-only server',
  );
});

t.test('setCa / setCrl on a live context govern the next verification', async (t) => {
  const server = createServer({ ...serverIdentity, ca: certs.ca, requestCert: true });
  const port = await listen(t, server);
  t.same(
    await attempt(server, port, certs.clientRevokedKey, certs.clientRevokedChain),
    { ok: true },
    'no CRL yet: accepted',
  );

  server.setCrl(certs.crl);
  const revoked = await attempt(server, port, certs.clientRevokedKey, certs.clientRevokedChain);
  t.match(
    revoked,
    { ok: false, error: { code: 'ERR_CTLS_CERT_VERIFY', verifyError: 'CERT_REVOKED' } },
    'after setCrl: refused',
  );
  t.same(await attempt(server, port, certs.clientKey, certs.clientChain), { ok: true }, 'a good client still passes');

  server.setCrl(certs.crlEmpty);
  t.same(
    await attempt(server, port, certs.clientRevokedKey, certs.clientRevokedChain),
    { ok: true },
    'an empty CRL un-revokes',
  );

  server.setCrl(undefined);
  server.setCa(certs.wrongCa);
  const unknown = await attempt(server, port, certs.clientKey, certs.clientChain);
  t.match(
    unknown,
    { ok: false, error: { code: 'ERR_CTLS_CERT_VERIFY', verifyError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' } },
    "after setCa(other CA): the old CA's client is refused",
  );
  t.same(
    await attempt(server, port, certs.clientWrongCaKey, certs.clientWrongCaChain),
    { ok: true },
    "and the new CA's client is accepted",
  );
});

t.test("verifyChain: today's store, CRLs and clock, without a handshake", async (t) => {
  const context = createSecureContext({ ...serverIdentity, ca: certs.ca, crl: certs.crl }, true);
  t.same(context.verifyChain(derChain(certs.clientChain)), { ok: true }, 'a good chain (DER)');
  const revoked = context.verifyChain(derChain(certs.clientRevokedChain));
  t.match(revoked, { ok: false, code: 'CERT_REVOKED', error: /revoked/ });
  t.match(context.verifyChain(derChain(certs.clientExpiredChain)), {
    ok: false,
    code: 'CERT_HAS_EXPIRED',
    error: /expired/,
  });
  t.match(context.verifyChain(derChain(certs.clientWrongCaChain)), {
    ok: false,
    code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  });
  t.match(
    context.verifyChain(derChain(certs.clientChain), 'sslserver'),
    { ok: false, code: 'INVALID_PURPOSE' },
    'a client certificate is no server certificate',
  );
  t.match(context.verifyChain([]), { ok: false, code: 'NO_PEER_CERTIFICATE' });
  t.match(context.verifyChain([Buffer.from('junk')]), { ok: false, code: 'UNABLE_TO_DECODE_CERTIFICATE' });

  // The store is replaced live: the same chains get new verdicts.
  context.setCrl(certs.crlEmpty);
  t.same(context.verifyChain(derChain(certs.clientRevokedChain)), { ok: true }, 'after setCrl(empty CRL)');
  context.setCa(certs.wrongCa);
  t.match(
    context.verifyChain(derChain(certs.clientChain)),
    { ok: false, code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' },
    'after setCa(other CA)',
  );
  // CRL checking stays on, and the new CA has no CRL in the store: fail closed, like node:tls.
  t.match(
    context.verifyChain(derChain(certs.clientWrongCaChain)),
    { ok: false, code: 'UNABLE_TO_GET_CRL' },
    'no CRL for the new issuer',
  );
  context.setCrl(undefined);
  t.same(context.verifyChain(derChain(certs.clientWrongCaChain)), { ok: true }, 'after setCrl(undefined)');
});

// The context keeps decoded certificates by their DER (decoding costs more than verifying under
// OpenSSL 3.0): a certificate seen before must still meet every later store and CRL.
t.test('verifyChain: certificates decoded before are judged by the store in force now', async (t) => {
  const context = createSecureContext({ ...serverIdentity, ca: certs.ca, crl: certs.crlEmpty }, true);
  const chain = derChain(certs.clientRevokedChain);
  for (let i = 0; i < 3; i++) t.same(context.verifyChain(chain), { ok: true }, `not revoked yet (pass ${i + 1})`);
  context.setCrl(certs.crl);
  t.match(context.verifyChain(chain), { ok: false, code: 'CERT_REVOKED' }, 'revoked as soon as the CRL lists it');
  t.match(
    context.verifyChain(derChain(certs.clientRevokedChain)),
    { ok: false, code: 'CERT_REVOKED' },
    'equal bytes in new buffers too',
  );
  // Bytes after the certificate would let two encodings share one cache entry: refused.
  const padded = [Buffer.concat([chain[0]!, Buffer.from([0, 0])]), ...chain.slice(1)];
  t.match(
    context.verifyChain(padded),
    { ok: false, code: 'UNABLE_TO_DECODE_CERTIFICATE' },
    'trailing bytes after the leaf',
  );
  const truncated = [chain[0]!.subarray(0, chain[0]!.length - 1), ...chain.slice(1)];
  t.match(context.verifyChain(truncated), { ok: false, code: 'UNABLE_TO_DECODE_CERTIFICATE' }, 'a truncated leaf');
});
