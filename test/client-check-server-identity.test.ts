// A client's checkServerIdentity is judged as node:tls judges it: any falsy answer accepts the
// server; an Error refuses it with ERR_CTLS_HOSTNAME_MISMATCH (its own code kept as
// authorizationError); a check that throws or answers something else refuses it the same way,
// and never unwinds through the handshake. A value that is not a function is refused up front.
import t, { type Test } from 'tap';
import { connect, type TLSSocket } from '../dist/index.js';
import { codeOf, makePki, startServer } from './helpers/mtls';
import { closed } from './helpers/owned';

type Check = (host: string, cert: unknown) => unknown;

async function outcome(t: Test, check: Check): Promise<TLSSocket> {
  const pki = await makePki();
  const { port } = await startServer(t, { key: pki.server.key, cert: pki.server.chain });
  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    checkServerIdentity: check as () => undefined,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await new Promise((resolve) => {
    client.once('secureConnect', resolve);
    client.once('close', resolve);
  });
  return client;
}

for (const [label, answer] of [
  ['undefined', undefined],
  ['null', null],
  ['false', false],
  ['0', 0],
  ["''", ''],
] as const) {
  t.test(`an answer of ${label} accepts the server`, async (t) => {
    const client = await outcome(t, () => answer);
    t.equal(client.authorized, true);
    t.equal(client.destroyed, false);
  });
}

t.test('an Error refuses the server with its code kept', async (t) => {
  const client = await outcome(t, () => Object.assign(new Error('pinned key differs'), { code: 'ERR_PIN' }));
  await closed(client);
  t.equal(codeOf(client.destroyReason), 'ERR_CTLS_HOSTNAME_MISMATCH');
  t.match(client.destroyReason?.message, /pinned key differs/);
  t.equal(client.authorized, false);
  t.equal(client.authorizationError, 'ERR_PIN');
});

t.test('a check that throws, or answers a non-Error, refuses the server without an uncaught exception', async (t) => {
  for (const check of [
    (): never => {
      throw new Error('check exploded');
    },
    (): string => 'no',
    (): object => ({ code: 42 }),
  ]) {
    const client = await outcome(t, check);
    await closed(client);
    t.equal(codeOf(client.destroyReason), 'ERR_CTLS_HOSTNAME_MISMATCH');
    t.equal(client.authorized, false);
    t.equal(client.authorizationError, 'ERR_TLS_CERT_ALTNAME_INVALID');
  }
});

t.test('a checkServerIdentity that is not a function is refused', async (t) => {
  t.throws(() => connect({ port: 1, checkServerIdentity: 'yes' as unknown as () => undefined }), {
    code: 'ERR_CTLS_INVALID_OPTION',
    message: /checkServerIdentity/,
  });
});
