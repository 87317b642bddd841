// Attack: the owned tier's guards now judge every certificate verification stood on (store
// intermediates, the anchor); the attached tier's subject has no verifiedChain(), so its guards judge
// the chain node reports, which does not hold the trust anchor. On a node:tls server watched by
// attach(), a fleet's revocation of the root a client's chain was verified with neither finds the
// connection (recheckKeys) nor denies it when every connection is re-decided (invalidatePolicy).
// (A lone leaf whose intermediate is in the store is judged with it: node completes that chain.)
//
// Fixed: the engine's own verification (native verifyChain) returns the chain it built, anchor
// included, and guards judge it beside the presented one.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { attach } from '../dist/index.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { closed, listen, waitFor, SOON } from './helpers/owned';

const root = new X509Certificate(certs.ca);

async function attachedConnection(
  t: Test,
  clientCert: string,
): Promise<{ host: GuardHost; guard: SerialGuard; client: tls.TLSSocket }> {
  const server = tls.createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.caChain,
    requestCert: true,
    rejectUnauthorized: true,
  });
  const attachment = attach(server, { ca: certs.caChain });
  t.teardown(() => attachment.detach());
  server.on('secureConnection', (socket: tls.TLSSocket) => socket.on('error', () => {}));
  const port = await listen(t, server);
  const host = attachment[kGuardHost];
  const guard = new SerialGuard();
  host.addGuard(guard);
  const accepted = waitFor<[tls.TLSSocket]>(server, 'secureConnection', SOON);
  const client = tls.connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: clientCert,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect', SOON);
  await accepted;
  return { host, guard, client };
}

t.test('attached: revoking the root cuts a connection verified with it', async (t) => {
  const { host, guard, client } = await attachedConnection(t, certs.clientChain);
  guard.revoke(root.serialNumber);
  const found = await host.recheckKeys([`serial:${root.serialNumber}`], 'revocation');
  t.equal(found.length, 1, 'the connection is found under the root serial');
  t.equal(found[0]?.allow, false, 'and denied');
  t.equal(found[0]?.reason, 'certificate-revoked');
  await closed(client);
  t.ok(client.destroyed, 'the connection is cut');
  const all = await host.invalidatePolicy();
  t.equal(all.length, 0, 'nothing is left to re-decide');
});
