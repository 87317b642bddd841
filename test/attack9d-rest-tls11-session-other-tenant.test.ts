// Attack: lib/http/node-server-trust.ts serverNameOf() stands the request's Host in for the
// server name only when `socket.getProtocol() === 'TLSv1.2'`. A server that still accepts TLS 1.1
// or 1.0 (minVersion 'TLSv1', legacy clients; node keeps no servername on those resumptions
// either) is judged as before 9068a80: a resumed TLS 1.1/1.0 session has no name, so the default
// context judges it whatever name it asks for. Fail open: a session made without a name (the
// default context trusts the client) resumed in TLS 1.1 under tenant b's SNI and Host is served,
// although b refuses the client at a full handshake (attack9c d1aabb7, back through TLS 1.1).
// Wrong denial: a tenant's own TLS 1.1 session resumed under its own name is judged under the
// default context and refused.
//
// The fix: take the Host for every resumed session that carries no servername at node's level
// whatever the protocol below TLS 1.3 (`getProtocol() !== 'TLSv1.3'`, or test for a missing
// servername on a resumed session only), not for TLS 1.2 alone.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBodyIf200, type Reply } from './helpers/https-resumption';

/** A server that still accepts TLS 1.0 and 1.1 (legacy clients). */
const legacy = { minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;

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
    minVersion: 'TLSv1',
    ciphers: 'DEFAULT@SECLEVEL=0',
    session,
    host: servername || 'localhost',
    read: statusAndBodyIf200,
    refused: 'handshake refused',
    // Let a TLS 1.3 ticket arrive before closing.
    closeAfter: 20,
  });
}

for (const [how, maxVersion] of [
  ['addContext', 'TLSv1.1'],
  ['SNICallback', 'TLSv1.1'],
] as const) {
  t.test(`${how} ${maxVersion}: a session of tenant a does not reach tenant b`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const tenantA = tls.createSecureContext({ ...identity, ca: certs.ca });
    const tenantB = tls.createSecureContext({ ...identity, ca: certs.wrongCa });
    const { port } = await serveHttps(t, {
      tls: {
        ca: certs.wrongCa,
        ...legacy,
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
    const again = await request(t, port, 'a.localhost', maxVersion, a.session);
    t.equal(again.status, '200 host=a.localhost resumed=true', "tenant a's session resumed under a is served");
  });
}

// The same with a session made without a name (the default context, which here trusts the
// client's CA) and resumed under tenant b's name.
for (const maxVersion of ['TLSv1.1', 'TLSv1'] as const) {
  t.test(`addContext ${maxVersion}: a session of the default context does not reach tenant b`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    const { port } = await serveHttps(t, {
      tls: { ca: certs.ca, ...legacy },
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
