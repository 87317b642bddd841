// Attack: docs/policies.md promises that "a policy therefore sees only verified certificates", and
// policies pin intermediates through `peer.chain` (a JS check, or an OPA rule on the fingerprints
// jsonInput sends). On the owned tier `peer.chain` is the list the client presented, in the order it
// sent it: certificates OpenSSL never used to build the path ride along unverified. A client whose
// leaf its root issued directly appends the (public) certificate of the intermediate the policy
// pins, and is allowed as if that intermediate had issued it.
//
// The fix: give policies the chain verification built (OpenSSL's verified chain on a full
// handshake or certificate request, the verifier's built chain on resumption and re-checks), leaf
// first, never the presented extras; or drop every presented certificate that is not on that path.
import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { connect, createServer, type TLSSocket } from '../dist/index.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { ModelPki, type Leaf } from './helpers/model/pki';
import { closed, listen, waitFor, SOON } from './helpers/owned';

const DAY = 86_400_000;

async function outcome(t: Test, pki: ModelPki, port: number, leaf: Leaf, cert: string): Promise<'allowed' | 'denied'> {
  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.serverRoot.pem,
    key: leaf.key,
    cert,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const secure = waitFor(client, 'secureConnect', SOON).then(() => 'secure' as const);
  await Promise.race([secure, closed(client, SOON)]);
  // The client hears of a denial as an alert right after its handshake; echo proves admission.
  const echoed = waitFor<[Buffer]>(client, 'data', 3_000).then(
    () => 'allowed' as const,
    () => 'denied' as const,
  );
  client.write('ping');
  return echoed;
}

t.test('a policy pinning an intermediate is not satisfied by a presented, unverified copy of it', async (t) => {
  const pki = await ModelPki.create();
  const pinned = new X509Certificate(pki.intermediates.A.pem).fingerprint256;
  const underIntermediate = await pki.issue({ cn: 'alice', tenant: 'A', viaIntermediate: true, lifetimeMs: DAY });
  const underRoot = await pki.issue({ cn: 'mallory', tenant: 'A', viaIntermediate: false, lifetimeMs: DAY });
  const seen: string[][] = [];
  const server = createServer(
    {
      key: pki.server.key,
      cert: pki.server.cert,
      ca: pki.caPem(['A']),
      requestCert: true,
      rejectUnauthorized: true,
      policy: (input: AuthorizationInput) => {
        seen.push(input.peer.chain.map((c) => c.subject.replace(/\n/g, ',')));
        return input.peer.chain.some((c) => c.fingerprint256 === pinned)
          ? { allow: true, reason: 'issued-under-pinned-intermediate' }
          : { allow: false, reason: 'not-under-pinned-intermediate' };
      },
    },
    (socket: TLSSocket) => socket.pipe(socket),
  );
  server.on('tlsClientError', () => {});
  const port = await listen(t, server);

  t.equal(await outcome(t, pki, port, underIntermediate, underIntermediate.chain), 'allowed', 'the pinned path passes');
  t.equal(await outcome(t, pki, port, underRoot, underRoot.cert), 'denied', 'a leaf of the root alone is refused');
  t.equal(
    await outcome(t, pki, port, underRoot, underRoot.cert + pki.intermediates.A.pem),
    'denied',
    `the same leaf with the pinned intermediate appended is refused too (policy saw ${JSON.stringify(seen.at(-1))})`,
  );
});
