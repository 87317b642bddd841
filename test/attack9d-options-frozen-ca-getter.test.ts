// Attack (fail open): for options whose `ca` is a frozen property (Object.freeze()d configuration,
// which node's addContext() hands to createSecureContext as given), the wrapper in
// lib/http/node-context-cas.ts now hands node the caller's own array, saying "the wrapper read it
// already, and it cannot change: the record and node agree". Only the property cannot change: the
// array's elements are read twice, once by the wrapper (itemsOf) and once by node, and an element
// that is an accessor (a lazily loaded file, a getter over a rotating secret store) answers each
// read anew. The library records the first reading and node loads the second. Here node's context
// for the tenant trusts the new root and its intermediate; the library records the old pair. A
// client sending its leaf with the old cross-signed intermediate and root passes node (through the
// new intermediate in its store) and REST verifies it under the old pair: after the fleet revokes
// the new intermediate, the padded client is still served (the d369171 defect, back through frozen
// options). Before 9068a80 the wrapper answered its own copy for every `ca`, so node loaded what
// was recorded.
//
// The fix: when `ca`/`crl` is frozen, hand node a plain unfrozen copy of the options (own
// enumerable properties, getters read once from the target) instead of a Proxy, so node reads the
// recorded items; or record no trust ('unknown', with the warning) when a frozen array's elements
// are not plain data properties.
//
// Fixed the stricter way: a frozen `ca`/`crl` whose items are not plain data is recorded as a
// trust that cannot be told, and every request on that context is denied (not judged on the
// chain node shows, which the padding defeats). The served-before check below expects that.
import t, { type Test } from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { crossSignedPki, type CrossSignedPki } from './helpers/cross-signed-pki';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';

/** A `ca` array whose first reading (the wrapper's) gives `indexed`, the next (node's) `iterated`. */
const variants: Record<string, (indexed: string, iterated: string) => string[]> = {
  // The control: a plain frozen array, read alike both ways (this one passes).
  'plain frozen array (control)': (_indexed, iterated) => Object.freeze([iterated]) as string[],
  'element getter': (indexed, iterated) => {
    let reads = 0;
    const ca: string[] = [];
    Object.defineProperty(ca, 0, { enumerable: true, get: () => (reads++ === 0 ? indexed : iterated) });
    return ca;
  },
};

async function serve(t: Test, guard: SerialGuard, ca: string[]): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const server = https.createServer(
    { ...identity, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
    authz.node((_req, res) => res.end('ok')),
  );
  // Shared, frozen tenant configuration: node's addContext hands it to createSecureContext as is.
  server.addContext('localhost', Object.freeze({ ...identity, ca }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

async function request(t: Test, port: number, key: string, cert: string): Promise<number | string> {
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, key, cert });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const connected = await waitFor(client, 'secureConnect', SOON).then(
    () => true,
    () => false,
  );
  if (!connected) return 'refused';
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
  return Promise.race([
    rawHttp(client)('GET', '/').then(
      (reply) => reply.status,
      () => 'closed' as const,
    ),
    closed,
  ]);
}

t.test('a frozen tenant ca whose element node reads otherwise than the wrapper did', async (t) => {
  const pki: CrossSignedPki = crossSignedPki(t, 'attack9d');
  for (const [name, make] of Object.entries(variants)) {
    await t.test(name, async (t) => {
      const guard = new SerialGuard();
      const port = await serve(t, guard, make(pki.oldTrust, pki.newTrust));
      const padded = pki.leaf + pki.oldIntermediate + pki.oldRoot;
      const before = await request(t, port, pki.leafKey, padded);
      if (name === 'element getter') t.not(before, 200, `a trust that cannot be told denies (${before})`);
      else t.equal(before, 200, 'the padded client is served before the revocation');
      guard.revoke(new X509Certificate(pki.newIntermediate).serialNumber);
      const after = await request(t, port, pki.leafKey, padded);
      t.not(after, 200, `after the new intermediate is revoked the padded client is refused (${after})`);
      // What node loaded is the second reading: a client of the CA the wrapper read is refused.
      const probe = await serve(t, new SerialGuard(), make(certs.ca, pki.newTrust));
      const other = await request(t, probe, certs.clientKey, certs.clientChain);
      t.not(other, 200, `node trusts its own reading, not what the wrapper recorded (${other})`);
    });
  }
});
