// Attack (per-name trust, canonical names): on a node:tls server a TLS 1.2 session that resumes runs
// no SNI selection and node keeps no server name for it, so REST judges the client under the
// context of the name the request asks for: requestHostName() reads `host ?? :authority`. An
// HTTP/2 request carries its authority in `:authority` (RFC 9113 section 8.3.1: the server uses
// it; a `host` field that differs makes the request malformed), and node's compatibility API
// (req.authority) and HTTP/2 routers take `:authority` first. A client of tenant a.test resumes its
// session and sends `:authority: b.test` with a `host: a.test` field: REST judges its chain
// under a.test's CAs and allows, while the app serves tenant b.test, whose CAs never issued it. A
// full handshake under b.test (or the same request without the `host` field) is refused.
// A correct library judges an HTTP/2 request by its `:authority`, and refuses a request whose
// `host` and `:authority` name different hosts (malformed, RFC 9113 section 8.3.1): a resumed
// client gets no more than a full handshake under the name the request is served under would give.
// Attack class: per-context trust (5), canonical names (10).
import t, { type Test } from 'tap';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';

const identity = { key: certs.serverKey, cert: certs.serverChain };

async function serve(t: Test): Promise<number> {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  const server = http2.createSecureServer(
    // The default context and tenant b.test trust another PKI; tenant a.test trusts the client's.
    { ...identity, ca: certs.wrongCa, requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.2' },
  );
  // The app serves the tenant its HTTP/2 request names, as node's compatibility API reports it.
  const handler = authz.node((req, res) =>
    res.end(`tenant=${String((req as unknown as http2.Http2ServerRequest).authority)}`),
  );
  server.on('request', handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  server.addContext('a.test', { ...identity, ca: certs.ca });
  server.addContext('b.test', { ...identity, ca: certs.wrongCa });
  server.on('sessionError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

interface Answer {
  status: string;
  session?: Buffer;
}

/** One request; the client sends as SNI the host its :authority names, as a browser would. */
async function get(t: Test, port: number, headers: http2.OutgoingHttpHeaders, session?: Buffer): Promise<Answer> {
  let ticket: Buffer | undefined;
  const client = http2.connect(`https://127.0.0.1:${port}`, {
    servername: String(headers[':authority']).split(':')[0],
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    maxVersion: 'TLSv1.2',
    checkServerIdentity: () => undefined,
    ...(session && { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  client.socket.on('session', (value: Buffer) => (ticket = value));
  const status = await new Promise<string>((resolve) => {
    const request = client.request({ ':path': '/', ...headers });
    let body = '';
    let code = 0;
    request.on('response', (h) => (code = Number(h[':status'])));
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => resolve(`${code} ${body}`));
    request.on('error', () => resolve('error'));
    request.end();
  });
  const resumable =
    ticket ?? (client.socket as unknown as { getSession?(): Buffer | undefined } | undefined)?.getSession?.();
  client.close();
  return { status, ...(resumable && { session: resumable }) };
}

t.test('a resumed TLS 1.2 session is judged by the :authority it is served under, not by a host field', async (t) => {
  const port = await serve(t);
  const first = await get(t, port, { ':authority': 'a.test' });
  t.equal(first.status, '200 tenant=a.test', "a full handshake of a.test's client is served at a.test");
  t.ok(first.session, 'with a session to resume');
  const plain = await get(t, port, { ':authority': 'b.test' }, first.session);
  // Refused with 403, or (where node runs SNI selection on resumption) at the handshake.
  t.match(plain.status, /^(403|error)/, `resumed at b.test it is refused (${plain.status})`);
  const smuggled = await get(t, port, { ':authority': 'b.test', host: 'a.test' }, first.session);
  t.match(
    smuggled.status,
    /^(40[03]|error)/,
    `nor does a host field naming a.test get it served at b.test (${smuggled.status})`,
  );
  // Judged by :authority, a request routed by its Host would be the reverse attack: refused too.
  const reverse = await get(t, port, { ':authority': 'a.test', host: 'b.test' }, first.session);
  t.match(reverse.status, /^400/, `a host field naming another host than :authority is refused (${reverse.status})`);
  const same = await get(t, port, { ':authority': 'a.test', host: 'A.test.:443' }, first.session);
  t.equal(same.status, '200 tenant=a.test', 'a host field naming the same host is served');
});
