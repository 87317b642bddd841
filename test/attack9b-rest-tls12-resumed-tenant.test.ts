// Attack: REST on node:https judges a TLS 1.2 session that resumes under the server's *default*
// context (lib/http/node-server-trust.ts: "a TLS 1.2 session that resumes has no server name at
// node's level"), whatever context verified it at its full handshake. On a multi-tenant server
// (addContext() or an SNICallback per tenant, a default context trusting another PKI or none of the
// tenants'), every resumed TLS 1.2 session of a tenant's client is denied 403
// certificate-chain-unknown although its full handshakes are served; clients that cache sessions
// (the default for node, curl, Java, Go) get 403 on every reconnection. TLS 1.3 sessions are served.
//
// The fix: learn the verifying context per session, not per name: at a full handshake's first
// request record the native context against the session (socket.getSession()'s id / the ticket,
// or the leaf fingerprint with the server), and judge a TLS 1.2 resumption under what its session
// was verified under (node shows `servername` false on such a connection, so the name cannot be
// recomputed); deny only what no session record covers.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBody, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, session?: Buffer): Promise<Reply<string>> {
  const maxVersion = 'TLSv1.2';
  return tlsGet(t, { port, maxVersion, session, read: statusAndBody, sessionFrom: 'ticket ?? getSession' });
}

for (const how of ['addContext', 'SNICallback'] as const) {
  t.test(`${how}: a tenant's resumed TLS 1.2 sessions are served as its full handshakes are`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const tenant = tls.createSecureContext({ ...identity, ca: certs.ca });
    const { port } = await serveHttps(t, {
      tls: {
        ca: certs.wrongCa,
        ...(how === 'SNICallback' && {
          SNICallback: (_name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) => cb(null, tenant),
        }),
      },
      answer: answerResumed,
      setup: (server) => {
        if (how === 'addContext') server.addContext('localhost', { ...identity, ca: certs.ca });
      },
    });
    const first = await request(t, port);
    t.equal(first.status, '200 resumed=false', 'a full handshake is served');
    const resumed = await request(t, port, first.session);
    t.equal(resumed.status, '200 resumed=true', 'and so is its resumed session');
  });
}
