// Attack (wrong denial): a TLS 1.2 session that resumes is judged under its request's Host taken
// verbatim (lib/http/node-server-trust.ts requestHostName / serverNameOf), but a Host is not an SNI:
// browsers and curl send `Host: a.example.` (trailing dot kept) with SNI `a.example` (dot
// stripped), and a Host's case is the user's (`Host: A.example`) while DNS names are
// case-insensitive. node's addContext patterns (/^a\.localhost$/, case-sensitive) match neither,
// so the resumed connection is judged under the default context, which does not trust the
// tenant's clients: 403, although the same client with the same SNI and Host is served on a full
// handshake (node selected tenant a by the SNI). Every TLS 1.2 resumption of such a client fails.
// So does one whose Host is empty (HTTP/1.1 clients send `Host:` empty for a target without an
// authority): no name at all, the default context judges.
//
// The fix: normalise the Host before it stands for a server name (lowercase, drop one trailing
// dot, as clients do when they derive the SNI from it), or match patterns case-insensitively; a
// Host that still selects no tenant context while the session's own name did should be judged as
// node would have judged the SNI the client sends (capture it from the ClientHello) rather than the
// Host.
//
// Fixed for the trailing dot and the case (requestHostName normalises the Host as a client does
// when it derives its SNI). Not for the empty Host: that request names no host, and node keeps no
// name for a TLS 1.2 session that resumes (where node keeps it, the SNI judges), so nothing says
// which tenant it is for; it is judged as a full handshake without a name would be, under the
// default context (here: denied). That case is asserted as such below.
import t, { type Test } from 'tap';
import type * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { serveHttps, tlsGet, answerResumed, statusAndBodyIf200, type Reply } from './helpers/https-resumption';

function request(t: Test, port: number, servername: string, host: string, session?: Buffer): Promise<Reply<string>> {
  return tlsGet(t, {
    port,
    servername,
    maxVersion: 'TLSv1.2',
    session,
    host,
    read: (reply) => statusAndBodyIf200(reply).trim(),
    refused: 'handshake refused',
    closeAfter: 0,
    sessionFrom: 'getSession',
  });
}

for (const host of ['a.localhost', 'a.localhost.', 'A.localhost', '']) {
  t.test(`TLS 1.2: SNI a.localhost with Host '${host}' is served resumed as it is on a full handshake`, async (t) => {
    const identity = { key: certs.serverKey, cert: certs.serverChain };
    // Whether node kept the session's server name on resumption (newer nodes do).
    let lastName: unknown;
    const { port } = await serveHttps(t, {
      tls: { ca: certs.wrongCa },
      answer: answerResumed,
      setup: (server) => {
        server.addContext('a.localhost', { ...identity, ca: certs.ca });
        server.on('secureConnection', (socket: tls.TLSSocket) => (lastName = socket.servername));
      },
    });
    const full = await request(t, port, 'a.localhost', host);
    t.equal(full.status, '200 resumed=false', 'the full handshake is served');
    const resumed = await request(t, port, 'a.localhost', host, full.session);
    if (host === '' && lastName === 'a.localhost')
      t.equal(resumed.status, '200 resumed=true', 'node kept the name: its SNI judges, not the empty Host');
    else if (host === '')
      t.match(resumed.status, /^403/, 'a resumption naming no host is judged under the default context');
    else t.equal(resumed.status, '200 resumed=true', 'its resumption, same SNI and Host, is served too');
  });
}
