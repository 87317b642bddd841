// Attack: on a multi-tenant node:https server (addContext or an SNICallback per tenant), a client
// that tenant A's CA vouches for reaches tenant B's REST routes by resuming its A session in TLS 1.2
// with SNI (and Host) b: node shows no servername on a resumed TLS 1.2 connection, so
// lib/http/node-server-trust.ts looks the session's name up by master-secret digest, finds "a" (and
// asks the SNICallback for "a"), and judges the leaf under A's CAs: 200. A full handshake under b
// is refused (B does not trust A's CA), and the same resumption in TLS 1.3 is denied (node shows
// servername b there, B's CAs judge it): the TLS 1.2 digest map lets a tenant's session cross to
// another tenant, which the library says a resumption never gets ("no more than a full handshake
// under its name would give it").
//
// The fix: a TLS 1.2 resumption must pass under the name it asks for now as well as the one its
// session was made under: node's servername is lost, so take the name of the request (its Host /
// :authority, which node:https already checks against nothing) or capture the ClientHello's SNI
// (e.g. from the server's 'secureConnection' via the handle, or by wrapping node's SNI selection
// in the context wrapper) and deny when the context it selects is not the session's, or when
// that context's CAs do not verify the remembered chain.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBodyIf200, type Reply } from './helpers/https-resumption';

function request(
  t: Test,
  port: number,
  servername: string,
  maxVersion: tls.SecureVersion,
  session?: Buffer,
): Promise<Reply<string>> {
  return tlsGet(t, {
    port,
    servername,
    maxVersion,
    session,
    host: servername || 'localhost',
    read: statusAndBodyIf200,
    refused: 'handshake refused',
    // Let a TLS 1.3 ticket arrive before closing.
    closeAfter: 20,
  });
}

for (const [how, maxVersion] of [
  ['addContext', 'TLSv1.3'],
  ['addContext', 'TLSv1.2'],
  ['SNICallback', 'TLSv1.3'],
  ['SNICallback', 'TLSv1.2'],
] as const) {
  t.test(`${how} ${maxVersion}: a session of tenant a does not reach tenant b`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const tenantA = tls.createSecureContext({ ...identity, ca: certs.ca });
    const tenantB = tls.createSecureContext({ ...identity, ca: certs.wrongCa });
    const { port } = await serveHttps(t, {
      tls: {
        ca: certs.wrongCa,
        ...(how === 'SNICallback' && {
          SNICallback: (name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) =>
            cb(null, name === 'a.localhost' ? tenantA : name === 'b.localhost' ? tenantB : undefined),
        }),
      },
      answer: (req) => `host=${req.headers.host} ${answerResumed(req)}`,
      setup: (server) => {
        if (how === 'addContext') {
          server.addContext('a.localhost', { ...identity, ca: certs.ca });
          server.addContext('b.localhost', { ...identity, ca: certs.wrongCa });
        }
      },
    });
    const a = await request(t, port, 'a.localhost', maxVersion);
    t.equal(a.status, '200 host=a.localhost resumed=false', "tenant a's full handshake is served");
    const b = await request(t, port, 'b.localhost', maxVersion);
    t.not(b.status.startsWith('200'), true, 'a full handshake under b is not served');
    const crossed = await request(t, port, 'b.localhost', maxVersion, a.session);
    t.not(crossed.status, '200 host=b.localhost resumed=true', "tenant a's session resumed under b is not served");
  });
}

// The same with a session made without a name (the default context, which here trusts the
// client's CA) and resumed under tenant b's name.
for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`addContext ${maxVersion}: a session of the default context does not reach tenant b`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const { port } = await serveHttps(t, {
      tls: { ca: certs.ca },
      answer: answerResumed,
      setup: (server) => server.addContext('b.localhost', { ...identity, ca: certs.wrongCa }),
    });
    const nameless = await request(t, port, '', maxVersion);
    t.equal(nameless.status, '200 resumed=false', 'a full handshake without a name is served');
    const b = await request(t, port, 'b.localhost', maxVersion);
    t.not(b.status.startsWith('200'), true, 'a full handshake under b is not served');
    const crossed = await request(t, port, 'b.localhost', maxVersion, nameless.session);
    t.not(crossed.status, '200 resumed=true', 'the nameless session resumed under b is not served');
  });
}
