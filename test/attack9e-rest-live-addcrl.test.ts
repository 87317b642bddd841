// Attack (fail open): a native secure context's trust can grow after it is made: node's
// SecureContext exposes `context.addCRL(pem)` (and addCACert) on the native object, which apps and
// libraries use to load a new CRL into a live server without recreating its context
// (`secureContext.context.addCRL(...)`, `server._sharedCreds.context.addCRL(...)`). node's next
// full handshakes check it. lib/http/node-context-cas.ts records a context's `ca`/`crl` only from
// the options it was made with, and node-server-trust.ts keeps each native context's answer for
// its lifetime: the CRL added later is unknown to REST. A revoked client's full handshake fails,
// but its resumed sessions (which REST judges itself, OpenSSL verifying nothing on resumption)
// are still served, as long as its ticket lives.
//
// The fix: wrap the native context's addCRL/addCACert (the prototype of `context.context`, as
// createSecureContext is wrapped) and record what they add (a context whose CRLs changed gets a
// new library context), or treat a native context whose addCRL was called outside
// createSecureContext as a trust that cannot be told (deny resumed sessions).
import t, { type Test } from 'tap';
import type { Server } from 'node:https';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, type Reply } from './helpers/https-resumption';

const ca = [certs.ca, certs.intermediate];
/** node reads one CRL per item: the intermediate's and the root's, apart. */
const crl = certs.crl.split(/(?<=-----END X509 CRL-----\n)/).filter((pem) => pem.includes('BEGIN'));

async function serve(t: Test): Promise<Server> {
  return (await serveHttps(t, { tls: { ca, ticketKeys: randomBytes(48) }, answer: answerResumed })).server;
}

/** GET / over a new connection presenting `cert` (resuming `session` if given). */
function request(
  t: Test,
  port: number,
  key: string,
  cert: string,
  session?: Buffer,
): Promise<Reply<number | 'closed'>> {
  return tlsGet(t, { port, key, cert, session, refused: 'closed' });
}

t.test('a CRL added to the live context refuses resumed sessions too', async (t) => {
  const server = await serve(t);
  const port = (server.address() as AddressInfo).port;
  const first = await request(t, port, certs.clientRevokedKey, certs.clientRevokedChain);
  t.equal(first.status, 200, 'served before the CRL');
  t.ok(first.session, 'and given a ticket');
  // The operator revokes the client: the live context is given the CRLs.
  const native = (server as unknown as { _sharedCreds: { context: { addCRL(pem: string): void } } })._sharedCreds
    .context;
  for (const item of crl) native.addCRL(item);
  const good = await request(t, port, certs.clientKey, certs.clientChain);
  t.equal(good.status, 200, 'another client is served under the CRL');
  const full = await request(t, port, certs.clientRevokedKey, certs.clientRevokedChain);
  t.equal(full.status, 'closed', 'the revoked client full handshake fails');
  const resumed = await request(t, port, certs.clientRevokedKey, certs.clientRevokedChain, first.session);
  t.not(resumed.status, 200, `its resumed session is refused too (${resumed.status} ${resumed.body ?? ''})`);
});
