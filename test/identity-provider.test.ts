// connect({ identity: provider }): the client asks the provider for its identity at each certificate
// request of the server (the handshake's, TLS 1.3 post-handshake auth, TLS 1.2 renegotiation), so
// a rotated certificate is presented without the app touching the socket. A provider that fails or
// hangs fails the connection with a coded error: the client never presents a stale identity.
import t from 'tap';
import { connect, reauthorize, type ConnectOptions, type Identity, type IdentityRequest } from '../dist/index.js';
import { waitFor } from './helpers/owned';
import { Received, codeOf, delay, makePki, mtlsOptions, startServer, type Pki } from './helpers/mtls';

async function issue(pki: Pki): Promise<Identity & { serial: string }> {
  const issued = await pki.ca.issueClient({ commonName: 'alice', validityMs: 60_000 });
  return { key: issued.key, cert: issued.chain, serial: issued.serial };
}

function connectWith(port: number, pki: Pki, extra: ConnectOptions) {
  return connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.rootCert, ...extra });
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: an async provider answers the handshake and every fresh re-authentication`, async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(t, mtlsOptions(pki, { maxVersion: version }));
    let current = await issue(pki);
    const requests: IdentityRequest[] = [];
    const accepted = waitFor(server, 'secureConnection');
    const client = connectWith(port, pki, {
      identity: async (request) => {
        requests.push(request);
        await delay(20);
        return current;
      },
    });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    const [socket] = (await accepted) as [Parameters<typeof reauthorize>[0]];
    t.equal(socket.getPeerX509Certificate()?.serialNumber, current.serial, 'the handshake got the first identity');
    const atServer = new Received(socket as never);
    for (let round = 1; round <= 2; round++) {
      current = await issue(pki);
      const decision = await reauthorize(socket, { fresh: true });
      t.equal(decision.certificate?.serialNumber, current.serial, `round ${round}: the provider's new identity`);
      client.write(`r${round};`);
      await atServer.until(round * 3);
    }
    t.same(
      requests.map((request) => request.afterHandshake),
      [false, true, true],
      'asked at the handshake and at each request',
    );
    t.equal(requests[0]?.hostname, 'localhost');
    t.equal(client.getProtocol(), version);
  });
}

t.test('writes made while the provider is pending wait for it and arrive in order', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  let current = await issue(pki);
  let slow = false;
  const accepted = waitFor(server, 'secureConnection');
  const client = connectWith(port, pki, {
    identity: async () => {
      if (slow) await delay(150);
      return current;
    },
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const [socket] = (await accepted) as [Parameters<typeof reauthorize>[0]];
  const atServer = new Received(socket as never);
  slow = true;
  current = await issue(pki);
  const pending = reauthorize(socket, { fresh: true });
  await delay(50);
  client.write('during;');
  const decision = await pending;
  t.equal(decision.certificate?.serialNumber, current.serial);
  client.write('after;');
  await atServer.until('during;after;'.length);
  t.equal(atServer.text(), 'during;after;');
});

t.test(
  'a provider that fails at a re-authentication fails the connection, not presenting the old identity',
  async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(t, mtlsOptions(pki));
    const first = await issue(pki);
    let fail = false;
    const accepted = waitFor(server, 'secureConnection');
    const client = connectWith(port, pki, {
      identity: () => {
        if (fail) throw new Error('vault unreachable');
        return first;
      },
    });
    const failed = waitFor<[Error]>(client, 'error');
    t.teardown(() => client.destroy());
    const [socket] = (await accepted) as [Parameters<typeof reauthorize>[0]];
    fail = true;
    const decision = await reauthorize(socket, { fresh: true, timeout: 5_000 }).catch((error: Error) => error);
    const [error] = await failed;
    t.equal(codeOf(error), 'ERR_CTLS_IDENTITY_FAILED');
    t.equal((error.cause as Error).message, 'vault unreachable', 'the cause is kept');
    t.equal(client.destroyReason, error);
    t.not((decision as { allow?: boolean }).allow, true, 'the server never re-authorized the old identity');
  },
);

t.test('a provider that never answers times out with a coded error', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const clientErrors: Error[] = [];
  server.on('tlsClientError', () => {});
  const client = connectWith(port, pki, { identity: () => new Promise<Identity>(() => {}), identityTimeout: 200 });
  client.on('error', (error) => clientErrors.push(error));
  t.teardown(() => client.destroy());
  const started = Date.now();
  await new Promise((resolve) => client.once('close', resolve));
  t.equal(codeOf(clientErrors[0]), 'ERR_CTLS_IDENTITY_TIMEOUT');
  t.ok(Date.now() - started < 5_000, 'within the timeout, not the server handshake limit');
  t.equal(client.secureEstablished, false);
});

t.test('a provider answer that is not an identity fails with a coded error', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  server.on('tlsClientError', () => {});
  const answers: Array<[unknown, string]> = [
    [null, 'ERR_CTLS_IDENTITY_FAILED'],
    ['a string', 'ERR_CTLS_IDENTITY_FAILED'],
    [{ key: 'not a key', cert: 'not a cert' }, 'ERR_CTLS_BAD_PEM'],
    [{ key: pki.client.key }, 'ERR_CTLS_INVALID_OPTION'],
  ];
  for (const [answer, code] of answers) {
    const client = connectWith(port, pki, { identity: () => answer as Identity });
    const [error] = await waitFor<[Error]>(client, 'error');
    t.equal(codeOf(error), code, `${JSON.stringify(answer)} -> ${code}`);
    client.destroy();
  }
});

t.test('a provider is not asked when the server requests no certificate', async (t) => {
  const pki = await makePki();
  const { port } = await startServer(t, mtlsOptions(pki, { requestCert: false }));
  let asked = 0;
  const client = connectWith(port, pki, {
    identity: () => {
      asked++;
      return { key: pki.client.key, cert: pki.client.chain };
    },
  });
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect');
  t.equal(asked, 0);
});

t.test('options are checked', async (t) => {
  const pki = await makePki();
  const base = { port: 1, ca: pki.ca.rootCert };
  const provider = () => ({ key: pki.client.key, cert: pki.client.chain });
  t.throws(() => connect({ ...base, identity: provider, key: pki.client.key }), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => connect({ ...base, identity: 'alice' as never }), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => connect({ ...base, identity: provider, identityTimeout: -1 }), { code: 'ERR_CTLS_INVALID_OPTION' });
});
