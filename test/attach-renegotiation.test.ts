// The attached tier and TLS 1.2 renegotiation: a client-initiated renegotiation would bring a new
// certificate that node:tls accepts with no decision (identity swap). Attached connections refuse
// it, as the owned tier does: from the renegotiation's first message nothing reaches the app, and
// the connection is closed with ERR_CTLS_RENEGOTIATION_REFUSED. The server's own renegotiation (a
// fresh re-authentication) still works.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { constants } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reauthorize, type DecisionEvent } from '../dist/index.js';
import { attachedServer, type AttachedServer } from './helpers/attached-tls';
import { closed, waitFor } from './helpers/owned';
import { makePki, Received, type Pki } from './helpers/mtls';

/** A TLS 1.2 attached server; resolves with it and the server sockets the app was handed. */
async function renegotiableServer(t: Test, pki?: Pki): Promise<AttachedServer & { accepted: tls.TLSSocket[] }> {
  const attached = await attachedServer(
    t,
    undefined,
    {},
    {
      pki,
      maxVersion: 'TLSv1.2',
      // Without it node resumes the session in a renegotiation and no certificate is asked for.
      tlsOptions: { secureOptions: constants.SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION },
    },
  );
  // Added after attach(), a listener is held back like the app's own: it sees what the app sees.
  const accepted: tls.TLSSocket[] = [];
  attached.server.on('secureConnection', (socket: tls.TLSSocket) => accepted.push(socket));
  return { ...attached, accepted };
}

const destroyCode = (socket: tls.TLSSocket): string | undefined =>
  (socket as tls.TLSSocket & { destroyReason?: { code?: string } }).destroyReason?.code;

t.test(
  'a node:tls client renegotiating, with another certificate, is cut before any byte of the new session',
  async (t) => {
    const pki = await makePki('alice');
    const bob = await pki.ca.issueClient({ commonName: 'bob' });
    const attached = await renegotiableServer(t, pki);
    const decisions: DecisionEvent[] = [];
    attached.server.on('decision', (event: DecisionEvent) => decisions.push(event));
    const { client, socket } = await attached.connect();
    const received = new Received(socket);
    t.equal(socket.getProtocol(), 'TLSv1.2');
    client.write('hello');
    await received.until(5);

    // A node:tls client's renegotiate() is a client-initiated renegotiation; it offers bob's certificate.
    client.setKeyCert(tls.createSecureContext({ key: bob.key, cert: bob.chain }));
    t.equal(
      client.renegotiate({}, () => {}),
      true,
      'the client started a renegotiation',
    );
    client.write('after');
    await closed(socket);
    t.equal(received.text(), 'hello', 'nothing after the renegotiation reached the app');
    t.equal(destroyCode(socket), 'ERR_CTLS_RENEGOTIATION_REFUSED');
    t.match(
      decisions,
      [{ trigger: 'handshake', outcome: 'allow', subject: 'alice' }],
      'bob was never decided, let alone allowed',
    );
  },
);

t.test("the server's own renegotiation (fresh) still works, and a client's after it is still refused", async (t) => {
  const { connect } = await renegotiableServer(t);
  const { client, socket } = await connect();
  const received = new Received(socket);
  for (let round = 1; round <= 2; round++) {
    const decision = await reauthorize(socket, { fresh: true });
    t.match(decision, { allow: true, source: 'engine' }, `fresh round ${round} renegotiated and allowed`);
  }
  client.write('still');
  await received.until(5);
  client.renegotiate({}, () => {});
  client.write('after');
  await closed(socket);
  t.equal(received.text(), 'still');
  t.equal(destroyCode(socket), 'ERR_CTLS_RENEGOTIATION_REFUSED');
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

t.test(
  'openssl s_client typing R (client-initiated renegotiation) is cut',
  { skip: hasOpenssl ? false : 'no openssl CLI' },
  async (t) => {
    const { pki, port, accepted } = await renegotiableServer(t);
    const dir = mkdtempSync(join(tmpdir(), 'ctls-reneg-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, pem: string): string => {
      writeFileSync(join(dir, name), pem);
      return join(dir, name);
    };
    // -cert sends the leaf only; -cert_chain adds the intermediate. Without -quiet / -ign_eof, a line
    // "R" on stdin is s_client's renegotiate command.
    const child = spawn(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-tls1_2',
        '-servername',
        'localhost',
        '-cert',
        file('client.pem', pki.client.cert),
        '-key',
        file('client.key', pki.client.key),
        '-cert_chain',
        file('chain.pem', pki.ca.issuerChain),
        '-CAfile',
        file('ca.pem', pki.ca.rootCert),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    t.teardown(() => child.kill());
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    const started = Date.now();
    while (accepted.length === 0) {
      if (Date.now() - started > 10_000) throw new Error(`s_client never got through: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const socket = accepted[0]!;
    const received = new Received(socket);
    child.stdin.write('hello\n');
    await received.until(6);
    child.stdin.write('R\n');
    child.stdin.write('after\n');
    await closed(socket);
    t.equal(received.text(), 'hello\n', 'nothing after R reached the app');
    t.equal(destroyCode(socket), 'ERR_CTLS_RENEGOTIATION_REFUSED');
  },
);

t.test('a Node without the handshake hook: TLS 1.2 connections are closed, never handed over', async (t) => {
  const { server, pki, port, accepted } = await renegotiableServer(t);
  // Stands in for a Node version whose private handle lost onhandshakestart: attach() must fail closed.
  const gated = server.emit;
  server.emit = function (this: tls.Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'secureConnection')
      (args[0] as { _handle: { onhandshakestart?: unknown } })._handle.onhandshakestart = undefined;
    return Reflect.apply(gated, this, [event, ...args]) as boolean;
  } as typeof server.emit;
  const decided = waitFor<[DecisionEvent, tls.TLSSocket]>(server, 'decision');
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
    maxVersion: 'TLSv1.2',
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const [, socket] = await decided;
  await closed(socket);
  t.equal(destroyCode(socket), 'ERR_CTLS_RENEGOTIATION_REFUSED');
  t.equal(accepted.length, 0, 'the app never saw it');
});
