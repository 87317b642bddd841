// Session resumption never bypasses authorization (docs/security.md): a resumed session goes
// through the policy like a full handshake (trigger 'handshake', a 'decision' event, the stored peer
// certificate), a policy that now denies refuses it, and a client revoked since its first connection
// is refused on resumption although OpenSSL itself skips verification there.
import t from 'tap';
import { connect, type AuthorizationInput, type DecisionEvent, type TLSSocket } from '../dist/index.js';
import { closed, waitFor } from './helpers/owned';
import { codeOf, makePki, mtlsOptions, startServer, type Pki } from './helpers/mtls';

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: resumed sessions are authorized like full handshakes`, async (t) => {
    const pki: Pki = await makePki();
    const inputs: AuthorizationInput[] = [];
    let allow = true;
    const { server, port } = await startServer(
      t,
      mtlsOptions(pki, {
        maxVersion: version,
        policy: (input) => {
          inputs.push(input);
          return { allow, reason: allow ? 'ok' : 'no-more' };
        },
      }),
    );
    const events: DecisionEvent[] = [];
    server.on('decision', (event: DecisionEvent) => events.push(event));
    const options = {
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: pki.ca.rootCert,
      key: pki.client.key,
      cert: pki.client.chain,
      maxVersion: version,
    };

    /** Connects (optionally resuming) and resolves with the client once it saw a session. */
    const open = async (session?: Buffer): Promise<{ client: TLSSocket; session: Buffer; socket: TLSSocket }> => {
      const accepted = waitFor<[TLSSocket]>(server, 'secureConnection');
      const client = connect({ ...options, ...(session === undefined ? {} : { session }) });
      client.on('error', () => {});
      t.teardown(() => client.destroy());
      // A TLS 1.2 server does not renew a ticket it just accepted: only the first connection waits for one.
      const ticket =
        session === undefined ? waitFor<[Buffer]>(client, 'session') : Promise.resolve([session] as [Buffer]);
      await waitFor(client, 'secureConnect');
      const [socket] = await accepted;
      const [next] = await ticket;
      return { client, session: next, socket };
    };

    const first = await open();
    t.equal(first.socket.isSessionReused(), false);
    first.client.end();
    await closed(first.client);
    inputs.length = 0;
    events.length = 0;

    t.test('the resumed session runs through the policy', async (t) => {
      const second = await open(first.session);
      t.equal(second.client.isSessionReused(), true, 'the client resumed');
      t.equal(second.socket.isSessionReused(), true, 'the server resumed');
      t.equal(inputs.length, 1, 'the policy was asked');
      t.equal(inputs[0]!.trigger, 'handshake');
      t.equal(inputs[0]!.peer.verified, true, 'the stored chain was revalidated');
      t.equal(
        inputs[0]!.peer.certificate?.serialNumber,
        pki.client.serial,
        'about the certificate of the original session',
      );
      t.equal(events.length, 1, 'a decision event was emitted');
      t.match(events[0], { trigger: 'handshake', outcome: 'allow', serial: pki.client.serial });
      second.client.end();
      await closed(second.client);
    });

    t.test('a policy that now denies refuses the resumed session', async (t) => {
      allow = false;
      events.length = 0;
      const client = connect({ ...options, session: first.session });
      client.on('error', () => {});
      t.teardown(() => client.destroy());
      const resumed = new Promise<boolean>((resolve) => {
        client.once('secureConnect', () => resolve(client.isSessionReused()));
        client.once('close', () => resolve(false));
      });
      let accepted = false;
      server.once('secureConnection', () => (accepted = true));
      const [event] = await waitFor<[DecisionEvent]>(server, 'decision');
      t.equal(await resumed, true, 'the client resumed the session');
      await closed(client);
      t.match(event, { trigger: 'handshake', outcome: 'deny', reason: 'no-more' });
      t.equal(accepted, false, 'never handed to the app');
      allow = true;
    });

    t.test('a client revoked since its first connection is refused on resumption', async (t) => {
      pki.ca.revoke(pki.client.serial);
      await server.setCrl(await pki.ca.crls());
      inputs.length = 0;
      const client = connect({ ...options, session: first.session });
      client.on('error', () => {});
      t.teardown(() => client.destroy());
      const resumed = new Promise<boolean>((resolve) => {
        client.once('secureConnect', () => resolve(client.isSessionReused()));
        client.once('close', () => resolve(false));
      });
      let accepted = false;
      server.once('secureConnection', () => (accepted = true));
      const [error] = await waitFor<[Error & { code?: string; reason?: string }]>(server, 'tlsClientError');
      await closed(client);
      t.equal(codeOf(error), 'ERR_CTLS_CERT_VERIFY');
      t.equal(error.reason, 'CERT_REVOKED');
      t.equal(accepted, false);
      t.equal(inputs.length, 0, 'denied by verification before any policy');
      t.equal(await resumed, true, 'the client resumed the session (OpenSSL alone would have let it in)');
    });
  });
}
