// server.inspect() and attachment.inspect(): each live mTLS connection as plain JSON data (peer by its
// public certificate fields, the current decision, its expiry, the next re-check, tier, age, reauth
// count); a denied connection leaves the report. inspectHandler() serves it only with a bearer token.
import t, { type Test } from 'tap';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspectHandler, type InspectReport, type InspectTarget } from '../dist/index.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { attachedServer } from './helpers/attached-tls';
import { closed, waitFor } from './helpers/owned';
import { connectPair, makePki, mtlsOptions, startServer, type Pki } from './helpers/mtls';

const TOKEN = 'an-operator-token-of-length';

/** The report as an operator receives it: through JSON. */
function viaJson(report: InspectReport): InspectReport {
  return JSON.parse(JSON.stringify(report)) as InspectReport;
}

async function pkiWithTeam(): Promise<Pki> {
  const ca = await DevelopmentCA.create();
  const [server, client] = await Promise.all([
    ca.issueServer({ commonName: 'localhost' }),
    ca.issueClient({ commonName: 'alice', subject: { O: 'Example' } }),
  ]);
  return { ca, server, client };
}

t.test('an owned server reports a live connection with every field', async (t) => {
  const pki = await pkiWithTeam();
  const policy = () => ({ allow: true, reason: 'team Example', ttlMs: 60_000 });
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy, reauthorize: { every: 30_000 } }));
  const before = Date.now();
  const { socket } = await connectPair(t, server, port, pki);

  const report = viaJson(server.inspect());
  t.same(viaJson(server.inspect()).connections.length, 1);
  t.ok(Date.parse(report.generatedAt!) >= before);
  const [c] = report.connections;
  t.match(c, {
    tier: 'owned',
    remoteAddress: '127.0.0.1',
    remotePort: socket.remotePort,
    servername: 'localhost',
    protocol: 'TLSv1.3',
    cipher: String,
    peer: {
      commonName: 'alice',
      subject: 'O=Example\nCN=alice',
      serialNumber: pki.client.serial,
      fingerprint256: pki.client.fingerprint256,
      validTo: pki.client.notAfter.toISOString(),
      issuer: /CN=continuous-tls development CA .* intermediate/,
    },
    decision: { allow: true, reason: 'team Example', source: 'engine', trigger: 'handshake' },
    nextCheck: { kind: 'interval' },
    reauthCount: 0,
  });
  const expiresAt = Date.parse(c!.decision!.expiresAt!);
  t.ok(expiresAt >= before + 60_000 && expiresAt <= Date.now() + 60_000, 'the decision expires with the ttl');
  const next = Date.parse(c!.nextCheck!.at!);
  t.ok(next >= before + 30_000 && next <= Date.now() + 30_000, 'the periodic re-check comes first');
  t.ok(c!.ageMs >= 0 && c!.ageMs < 10_000);
  t.notMatch(JSON.stringify(report), /BEGIN|PRIVATE|raw/, 'no PEM, no key, no raw DER');

  await server.authorizer.reauthorize(socket, { fresh: true });
  t.match(viaJson(server.inspect()).connections[0], { reauthCount: 1, decision: { trigger: 'manual' } });
});

t.test('the re-check at expiry shows when it comes first; without a policy the certificate bounds it', async (t) => {
  const pki = await makePki();
  const brief = await pki.ca.issueClient({ commonName: 'brief', validityMs: 20_000 });
  const { server, port } = await startServer(t, mtlsOptions(pki, { reauthorize: { every: 60_000 } }));
  await connectPair(t, server, port, pki, brief);
  const [c] = viaJson(server.inspect()).connections;
  t.match(c, {
    peer: { commonName: 'brief' },
    decision: { allow: true, reason: 'verified', expiresAt: brief.notAfter.toISOString() },
    nextCheck: { kind: 'expiry', at: brief.notAfter.toISOString() },
  });
});

t.test('a denied connection leaves the report', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const a = await connectPair(t, server, port, pki);
  const bob = await pki.ca.issueClient({ commonName: 'bob' });
  await connectPair(t, server, port, pki, bob);
  t.same(
    server
      .inspect()
      .connections.map((c) => c.peer?.commonName)
      .sort(),
    ['alice', 'bob'],
  );
  pki.ca.revoke(pki.client.serial);
  const decisions = await server.setCrl(await pki.ca.crls());
  t.ok(decisions.some((d) => !d.allow && d.reason === 'CERT_REVOKED'));
  t.same(
    server.inspect().connections.map((c) => c.peer?.commonName),
    ['bob'],
    'gone as soon as it is denied',
  );
  await closed(a.socket);
  t.equal(server.inspect().connections.length, 1);
});

t.test('an attachment reports its node:tls connections the same way', async (t) => {
  const pki = await pkiWithTeam();
  let allow = true;
  const { attachment, connect } = await attachedServer(
    t,
    () => ({ allow, reason: allow ? 'in' : 'out', ttlMs: 60_000 }),
    {},
    { pki },
  );
  const { socket } = await connect();
  t.match(viaJson(attachment.inspect()).connections, [
    {
      tier: 'attached',
      remoteAddress: '127.0.0.1',
      remotePort: socket.remotePort,
      servername: 'localhost',
      peer: { commonName: 'alice', subject: 'O=Example\nCN=alice', serialNumber: pki.client.serial },
      decision: { allow: true, reason: 'in', trigger: 'handshake', source: 'engine', expiresAt: String },
      nextCheck: { kind: 'interval' },
      reauthCount: 0,
    },
  ]);
  allow = false;
  await attachment.setPolicy(() => ({ allow, reason: 'out' }));
  t.same(attachment.inspect().connections, [], 'denied: gone');
});

/** A node:http server running inspectHandler(target, options); resolves with its URL. */
async function endpoint(t: Test, target: InspectTarget, options: Parameters<typeof inspectHandler>[1]) {
  const server = http.createServer(inspectHandler(target, options));
  server.listen(0, '127.0.0.1');
  await waitFor(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/connections`;
}

t.test('inspectHandler serves the report only with a bearer token', async (t) => {
  const report: InspectReport = { generatedAt: new Date(0).toISOString(), connections: [] };
  let calls = 0;
  const target = {
    inspect: () => {
      calls++;
      return report;
    },
  };
  const url = await endpoint(t, target, { token: TOKEN });
  const get = async (headers: Record<string, string> = {}, method = 'GET') => {
    const res = await fetch(url, { headers, method });
    return {
      status: res.status,
      body: method === 'HEAD' ? null : await res.json(),
      www: res.headers.get('www-authenticate'),
      cache: res.headers.get('cache-control'),
    };
  };
  t.match(await get(), {
    status: 401,
    body: { error: 'unauthorized', detail: 'a bearer token is required' },
    www: 'Bearer realm="continuous-tls inspect"',
  });
  t.match(await get({ authorization: `Bearer ${TOKEN}x` }), {
    status: 401,
    body: { detail: 'the bearer token is not accepted' },
    www: /error="invalid_token"/,
  });
  t.equal((await get({ authorization: TOKEN })).status, 401, 'not the Bearer scheme');
  t.equal((await get({ authorization: `Basic ${TOKEN}` })).status, 401);
  t.equal((await fetch(`${url}?token=${TOKEN}`)).status, 401, 'not from the query string');
  t.equal(calls, 0, 'no report is made for a refused request');
  t.same(await get({ authorization: `Bearer ${TOKEN}` }), { status: 200, body: report, www: null, cache: 'no-store' });
  t.equal((await get({ authorization: `bearer ${TOKEN}` })).status, 200, 'the scheme is case-insensitive');
  t.equal((await get({ authorization: `Bearer ${TOKEN}` }, 'HEAD')).status, 200);
  t.match(await get({ authorization: `Bearer ${TOKEN}` }, 'POST'), {
    status: 405,
    body: { error: 'method_not_allowed' },
  });
  t.equal((await get({}, 'POST')).status, 401, 'authentication comes first');

  const several = await endpoint(t, target, { token: [TOKEN, 'another-token-of-length'] });
  t.equal((await fetch(several, { headers: { authorization: 'Bearer another-token-of-length' } })).status, 200);

  const failing = await endpoint(
    t,
    {
      inspect: () => {
        throw new Error('secret detail');
      },
    },
    { token: TOKEN },
  );
  const res = await fetch(failing, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(res.status, 500);
  t.notMatch(await res.text(), /secret/);
});

t.test('inspectHandler never serves without a token unless told insecureOpen', async (t) => {
  const target = { inspect: (): InspectReport => ({ generatedAt: null, connections: [] }) };
  const invalid = (name: string) => ({ code: 'ERR_CTLS_INVALID_OPTION', message: new RegExp(`"${name}"`) });
  t.throws(() => inspectHandler(target, {}), invalid('token'));
  t.throws(() => inspectHandler(target, undefined as unknown as object), invalid('token'));
  t.throws(() => inspectHandler(target, { insecureOpen: false }), invalid('token'));
  t.throws(() => inspectHandler(target, { token: 'short' }), invalid('token'));
  t.throws(() => inspectHandler(target, { token: [] }), invalid('token'));
  t.throws(() => inspectHandler(target, { token: 'has a space in it, long' }), invalid('token'));
  t.throws(() => inspectHandler(target, { token: 42 as unknown as string }), invalid('token'));
  t.throws(() => inspectHandler(target, { insecureOpen: 'yes' as unknown as boolean }), invalid('insecureOpen'));
  t.throws(() => inspectHandler({} as InspectTarget, { token: TOKEN }), invalid('target'));
  t.throws(() => inspectHandler(null as unknown as InspectTarget, { token: TOKEN }), invalid('target'));

  const open = await endpoint(t, target, { insecureOpen: true });
  t.equal((await fetch(open)).status, 200, 'open when asked');
  const both = await endpoint(t, target, { insecureOpen: true, token: TOKEN });
  t.equal((await fetch(both)).status, 401, 'a token given is required even then');
});
