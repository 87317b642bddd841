// After a certificate request (TLS 1.3 post-handshake auth, TLS 1.2 renegotiation) the owned tier
// remembers, for the leaf's resumed sessions, the chain OpenSSL verified, not the list the client
// presented. Here the client answers with its leaf, an expired copy of its intermediate (same
// subject and key, so it issues the leaf too) and then the valid one: OpenSSL builds the chain
// through the valid copy (it prefers an issuer valid now), while the first issuer in the presented
// list is the expired one. A session resumed afterwards is verified with what was remembered: it
// must be accepted, with the horizon of the chain OpenSSL verified (the valid intermediate's notAfter).
import t from 'tap';
import { connect, createServer, type TLSSocket } from '../dist/index.js';
import { kExchangeVerdict } from '../dist/tls/symbols.js';
import { ModelPki } from './helpers/model/pki';
import { listen, waitFor, SOON } from './helpers/owned';

const LEAF_LIFETIME_MS = 10 * 60_000;
/** The intermediate OpenSSL uses expires before the leaf, so the horizon is its notAfter. */
const INTERMEDIATE_LIFETIME_MS = 5 * 60_000;

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: a resumed session after re-authentication has the verified chain's horizon`, async (t) => {
    const pki = await ModelPki.create();
    const leaf = await pki.issue({
      cn: 'alice',
      tenant: 'A',
      viaIntermediate: true,
      lifetimeMs: LEAF_LIFETIME_MS,
      intermediateLifetimeMs: INTERMEDIATE_LIFETIME_MS,
    });
    const expiredIntermediate = await pki.reissueIntermediate(leaf, -60_000);
    const horizon = leaf.intermediateNotAfter!;

    const server = createServer({
      key: pki.server.key,
      cert: pki.server.cert,
      ca: pki.caPem(['A']),
      requestCert: true,
      rejectUnauthorized: true,
      maxVersion: version,
      sessionIdContext: 'reauth-remembers-verified-chain',
      reauthorize: { every: 0 },
    });
    server.on('tlsClientError', () => {});
    const port = await listen(t, server);

    const open = async (session?: Buffer): Promise<{ client: TLSSocket; peer: TLSSocket; session: Buffer }> => {
      const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
      // A refused resumption fails fast instead of waiting out the timeout.
      const refused = new Promise<never>((_, reject) => server.once('tlsClientError', reject));
      const client = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: pki.serverRoot.pem,
        key: leaf.key,
        cert: leaf.chain,
        maxVersion: version,
        ...(session === undefined ? {} : { session }),
      });
      client.on('error', () => {});
      t.teardown(() => client.destroy());
      // A TLS 1.3 ticket arrives after the handshake; a resumed session needs no new one.
      const ticket = session === undefined ? waitFor<[Buffer]>(client, 'session', SOON) : Promise.resolve([session]);
      const secure = waitFor(client, 'secureConnect', SOON);
      const [peer] = await Promise.race([accepted, refused]);
      await secure;
      client.resume();
      const [next] = await ticket;
      return { client, peer: peer!, session: next! };
    };

    const first = await open();
    t.equal(first.peer.isSessionReused(), false, 'the first connection is a full handshake');
    first.client.setIdentity({
      key: leaf.key,
      cert: leaf.cert + expiredIntermediate + leaf.chain.slice(leaf.cert.length),
    });
    const result = await first.peer.requestCertificate({ timeout: SOON });
    t.equal(result.verified, true, 'the re-authentication verified');
    t.equal(result.der.length, 3, 'the client presented the leaf and both copies of its intermediate');
    first.client.destroy();

    const resumed = await open(first.session);
    t.equal(resumed.peer.isSessionReused(), true, 'the second connection resumed the session');
    t.equal(resumed.peer.authorized, true, 'and verified with the remembered chain');
    const exchange = (resumed.peer as unknown as { [kExchangeVerdict]: { notAfter?: number } | null })[
      kExchangeVerdict
    ];
    t.equal(exchange?.notAfter, horizon, "its horizon is the verified intermediate's notAfter");
  });
}
