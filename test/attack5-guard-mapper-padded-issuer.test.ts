// Attack: guards, and the fleet's SubjectMapper through them, read GuardFacts.chain ("the peer's
// chain, leaf first"), which lib/authz/authorizer.ts guardChain builds as the list the client
// presented, in the order sent, with only the certificates verification built and the list lacks
// appended after it. Policies were just moved off the presented list (a padded list satisfied a
// policy pinning an intermediate), but a mapper still reads it: one that names a peer by the CA
// that issued its leaf (chain[1], here "tenant = issuing CA") sees whatever the client put second.
// A client of a tenant whose every subject the fleet revoked presents its leaf, the public
// certificate of another CA, then its real intermediate: OpenSSL ignores the extra and verifies
// the leaf through the intermediate, the mapper names the other tenant, and the connection is
// admitted where the same client presenting its chain plainly is refused.
//
// The fix: build GuardFacts.chain as the verified chain first (leaf, issuer, ..., anchor, as
// policyChain gives policies) and only then the presented certificates verification did not use,
// so that serial checks still see everything while position means issuance; document the order
// in GuardFacts and docs/fleet.md's SubjectMapper section.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { createServer, type TLSSocket } from '../dist/index.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { certs } from './helpers/certs';
import { listen, SOON } from './helpers/owned';

/** The tenant is the CA that issued the peer's leaf: the certificate after the leaf. */
const tenantOfIssuer = (facts: { chain: readonly { subject: string }[] }) => [
  { format: 'opaque' as const, id: `tenant:${facts.chain[1]?.subject ?? 'none'}` },
];

async function serveWithFleet(t: Test): Promise<number> {
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true }, tenantOfIssuer);
  // The fleet revokes every subject of the tenant of the test intermediate.
  const event = {
    type: 'subject-revoked',
    subject: { format: 'opaque', id: 'tenant:CN=continuous-tls test intermediate CA' },
    before: Date.now() + 3_600_000,
  };
  for (const op of stateOps(checkEvent(event))) state.apply(op);
  guard.bump();
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.ca,
    requestCert: true,
    rejectUnauthorized: true,
  });
  (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => {});
    socket.write('admitted');
  });
  return listen(t, server);
}

/** Connects presenting `cert`: 'admitted' when the server let it through, else 'refused'. */
async function attempt(t: Test, port: number, cert: string): Promise<'admitted' | 'refused'> {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('refused'), SOON);
    client.once('data', () => {
      clearTimeout(timer);
      resolve('admitted');
    });
    client.once('close', () => {
      clearTimeout(timer);
      resolve('refused');
    });
  });
}

t.test("a revoked tenant's client cannot become another tenant by padding its chain", async (t) => {
  const port = await serveWithFleet(t);
  t.equal(await attempt(t, port, certs.clientChain), 'refused', 'presenting its chain plainly, it is refused');
  const padded = certs.clientCert + certs.wrongCa + certs.intermediate;
  t.equal(await attempt(t, port, padded), 'refused', 'with another CA second in its list, it is refused too');
});
