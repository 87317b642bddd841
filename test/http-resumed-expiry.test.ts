// A REST request on a resumed TLS session is judged on the validity window of the whole chain its
// certificate came with, not the leaf's alone. A resumed session stores the client's leaf and no
// intermediates (RFC 8446 section 4.6.1, RFC 5077 section 4) and OpenSSL verifies nothing on
// resumption, so node shows the leaf alone. Here the client's own intermediate (not in the server's
// store) expires long before its leaf: no request may be allowed after the intermediate's notAfter,
// on fresh or resumed connections, over node:https, the owned tier and node:https with attach().
// A session made by another process, whose chain this one never saw, is denied
// (certificate-chain-unknown) until a full handshake shows the chain; guards see the remembered chain.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { randomBytes, X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { attach, createServer } from '../dist/index.js';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { kGuardHost, type DecisionGuard, type GuardHost } from '../dist/authz/guard.js';
import type { Decision } from '../dist/common/types.js';
import { ModelPki, type Leaf } from './helpers/model/pki';
import { listen, waitFor, SOON } from './helpers/owned';
import { rawHttp, type RawReply } from './helpers/raw-http';

/** The intermediate lives this long (rounded down to a whole second), the leaf a minute. */
const INTERMEDIATE_LIFETIME_MS = 5_000;
const LEAF_LIFETIME_MS = 60_000;
/** Past the intermediate's notAfter by this much, every request must be refused. */
const PAST_HORIZON_MS = 300;

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

type Version = 'TLSv1.3' | 'TLSv1.2';
type Kind = 'node:https' | 'owned + node:http' | 'node:https + attach';

interface Served {
  kind: Kind;
  port: number;
  /** What onDecision saw, in order. */
  decisions: Decision[];
}

function serverTls(pki: ModelPki, version: Version) {
  return {
    key: pki.server.key,
    cert: pki.server.cert,
    ca: pki.caPem(['A']),
    requestCert: true,
    rejectUnauthorized: true,
    maxVersion: version,
    sessionIdContext: 'http-resumed-expiry',
  };
}

async function serve(
  t: Test,
  kind: Kind,
  pki: ModelPki,
  version: Version,
  extra: { ticketKeys?: Buffer; ca?: string } = {},
  guard?: DecisionGuard,
): Promise<Served> {
  const decisions: Decision[] = [];
  const authz = authorizeRequest({
    policy: () => ({ allow: true, reason: 'ok' }),
    onDecision: (decision) => decisions.push(decision),
    exposeReason: true,
  });
  if (guard !== undefined) (authz as unknown as { [kGuardHost]: GuardHost })[kGuardHost].addGuard(guard);
  const handler = authz.node((_req, res) => res.end('ok'));
  const options = { ...serverTls(pki, version), ...extra };
  if (kind === 'owned + node:http') {
    const app = http.createServer(handler);
    const server = createServer(options, (socket) => app.emit('connection', socket));
    t.teardown(() => app.closeAllConnections());
    return { kind, port: await listen(t, server), decisions };
  }
  const server = https.createServer(options, handler);
  server.on('tlsClientError', () => {});
  if (kind === 'node:https + attach') {
    const attachment = attach(server, { ca: pki.caPem(['A']) });
    t.teardown(() => attachment.detach());
  }
  return { kind, port: await listen(t, server), decisions };
}

interface Connection {
  client: tls.TLSSocket;
  request: (method: string, target: string) => Promise<RawReply>;
  /** The session to resume (a TLS 1.3 ticket arrives after the handshake). */
  session: Promise<Buffer>;
}

async function open(t: Test, port: number, pki: ModelPki, leaf: Leaf, version: Version, session?: Buffer) {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.serverRoot.pem,
    key: leaf.key,
    cert: leaf.chain,
    maxVersion: version,
    ...(session === undefined ? {} : { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const next = session === undefined ? waitFor<[Buffer]>(client, 'session', SOON) : Promise.resolve([session]);
  await waitFor(client, 'secureConnect', SOON);
  const connection: Connection = {
    client,
    request: rawHttp(client),
    session: next.then(([s]) => s!),
  };
  return connection;
}

/** How long a request may go unanswered before it counts as held (the owned tier's gate closes at expiry). */
const HELD_AFTER_MS = 2_000;

/** Sends GET / and says what came back: a status, or that the connection was closed or held it. */
async function get(connection: Connection): Promise<number | 'closed' | 'held'> {
  const answer = connection.request('GET', '/').then(
    (reply) => reply.status,
    () => 'closed' as const,
  );
  return Promise.race([answer, delay(HELD_AFTER_MS).then(() => 'held' as const)]);
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: no request is allowed past the intermediate's notAfter, fresh or resumed`, async (t) => {
    const pki = await ModelPki.create();
    const leaf = await pki.issue({
      cn: 'alice',
      tenant: 'A',
      viaIntermediate: true,
      lifetimeMs: LEAF_LIFETIME_MS,
      intermediateLifetimeMs: INTERMEDIATE_LIFETIME_MS,
    });
    const horizon = leaf.intermediateNotAfter!;
    t.ok(horizon < Date.parse(new X509Certificate(leaf.cert).validTo) - 30_000, 'the intermediate expires first');

    const kinds: Kind[] = ['node:https', 'owned + node:http', 'node:https + attach'];
    const served = await Promise.all(kinds.map((kind) => serve(t, kind, pki, version)));
    const live: Array<{ label: string; connection: Connection }> = [];
    const sessions = new Map<Kind, Buffer>();
    for (const s of served) {
      const fresh = await open(t, s.port, pki, leaf, version);
      t.equal(await get(fresh), 200, `${s.kind}: a full handshake's request is allowed`);
      t.equal(s.decisions.at(-1)?.expiresAt, horizon, `${s.kind}: its decision lapses with the intermediate`);
      const session = await fresh.session;
      sessions.set(s.kind, session);
      const resumed = await open(t, s.port, pki, leaf, version, session);
      t.equal(resumed.client.isSessionReused(), true, `${s.kind}: the second connection resumed the session`);
      t.equal(await get(resumed), 200, `${s.kind}: a resumed connection's request is allowed`);
      const decision = s.decisions.at(-1)!;
      t.ok(
        decision.expiresAt <= horizon,
        `${s.kind}: a resumed connection's decision lapses with the intermediate (${decision.expiresAt - horizon} ms)`,
      );
      live.push({ label: `${s.kind} fresh`, connection: fresh }, { label: `${s.kind} resumed`, connection: resumed });
    }
    t.ok(Date.now() < horizon - 500, 'every connection was set up well before the horizon');

    await delay(horizon - Date.now() + PAST_HORIZON_MS);
    for (const { label, connection } of live) {
      const status = await get(connection);
      t.not(status, 200, `${label}: a keep-alive request past the horizon is refused (${status})`);
    }
    // A session resumed after the intermediate expired: node resumes without looking at any date.
    for (const s of served) {
      const late = await open(t, s.port, pki, leaf, version, sessions.get(s.kind)).catch(() => null);
      const status = late === null ? 'closed' : await get(late);
      t.not(status, 200, `${s.kind}: a session resumed past the horizon gets no request through (${status})`);
    }
  });
}

/** A node:tls server in another process, sharing the ticket keys: it issues sessions this one never saw made. */
async function otherProcess(t: Test, pki: ModelPki, version: Version, ticketKeys: Buffer): Promise<number> {
  const script = `
    const tls = require('node:tls');
    let input = '';
    process.stdin.on('data', (c) => (input += c)).on('end', () => {
      const o = JSON.parse(input);
      const server = tls.createServer({ ...o, ticketKeys: Buffer.from(o.ticketKeys, 'hex') }, () => {});
      server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill());
  child.stdin.end(JSON.stringify({ ...serverTls(pki, version), ticketKeys: ticketKeys.toString('hex') }));
  const [line] = await waitFor<[Buffer]>(child.stdout, 'data', SOON);
  return Number(String(line).trim());
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: a session from another process is denied until a full handshake shows the chain`, async (t) => {
    const pki = await ModelPki.create();
    const leaf = await pki.issue({
      cn: 'alice',
      tenant: 'A',
      viaIntermediate: true,
      lifetimeMs: 10 * LEAF_LIFETIME_MS,
      intermediateLifetimeMs: 5 * LEAF_LIFETIME_MS,
    });
    const horizon = leaf.intermediateNotAfter!;
    const ticketKeys = randomBytes(48); // node:tls ticket keys are 48 bytes
    const elsewhere = await otherProcess(t, pki, version, ticketKeys);
    const made = await open(t, elsewhere, pki, leaf, version);
    const session = await made.session;
    made.client.destroy();

    const s = await serve(t, 'node:https', pki, version, { ticketKeys });
    const resumed = await open(t, s.port, pki, leaf, version, session);
    t.equal(resumed.client.isSessionReused(), true, 'a session the other process made resumed here');
    const denied = await resumed.request('GET', '/');
    t.equal(denied.status, 403, 'its request is refused');
    t.match(JSON.parse(denied.body), { detail: 'certificate-chain-unknown' });
    t.match(s.decisions.at(-1), { allow: false, reason: 'certificate-chain-unknown' });

    const full = await open(t, s.port, pki, leaf, version);
    t.equal(full.client.isSessionReused(), false, 'a full handshake');
    t.equal(await get(full), 200, 'shows the chain, and is allowed');
    t.equal(s.decisions.at(-1)?.expiresAt, horizon);
    t.equal(await get(resumed), 200, 'from then on the resumed connection is judged on that chain');
    t.equal(s.decisions.at(-1)?.expiresAt, horizon, 'and lapses with the intermediate');
  });
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: with the intermediate in the server's CAs, node completes a resumed chain itself`, async (t) => {
    const pki = await ModelPki.create();
    const leaf = await pki.issue({
      cn: 'alice',
      tenant: 'A',
      viaIntermediate: true,
      lifetimeMs: 10 * LEAF_LIFETIME_MS,
      intermediateLifetimeMs: 5 * LEAF_LIFETIME_MS,
    });
    const intermediate = leaf.chain.slice(leaf.cert.length);
    t.ok(
      new X509Certificate(leaf.cert).checkIssued(new X509Certificate(intermediate)),
      'the chain ends with the issuer',
    );
    const ticketKeys = randomBytes(48);
    const elsewhere = await otherProcess(t, pki, version, ticketKeys);
    const made = await open(t, elsewhere, pki, leaf, version);
    const session = await made.session;
    made.client.destroy();

    // Not an anchor: node (without allowPartialTrustChain) still verifies up to a self-signed root.
    const s = await serve(t, 'node:https', pki, version, { ticketKeys, ca: pki.caPem(['A']) + intermediate });
    const resumed = await open(t, s.port, pki, leaf, version, session);
    t.equal(resumed.client.isSessionReused(), true, 'a session the other process made resumed here');
    t.equal(await get(resumed), 200, 'is allowed');
    t.equal(s.decisions.at(-1)?.expiresAt, leaf.intermediateNotAfter, 'and lapses with the intermediate');
  });
}

t.test('a chain remembered under one set of CAs is used under the same CAs only', async (t) => {
  const pki = await ModelPki.create();
  const leaf = await pki.issue({
    cn: 'alice',
    tenant: 'A',
    viaIntermediate: true,
    lifetimeMs: 10 * LEAF_LIFETIME_MS,
    intermediateLifetimeMs: 5 * LEAF_LIFETIME_MS,
  });
  const ticketKeys = randomBytes(48);
  // Three servers in this process, one set of ticket keys: each resumes the others' sessions. The
  // second trusts the same CAs as the first; the third trusts tenant B's root besides.
  const first = await serve(t, 'node:https', pki, 'TLSv1.3', { ticketKeys });
  const second = await serve(t, 'node:https', pki, 'TLSv1.3', { ticketKeys });
  const third = await serve(t, 'node:https', pki, 'TLSv1.3', { ticketKeys, ca: pki.caPem(['A', 'B']) });
  const full = await open(t, first.port, pki, leaf, 'TLSv1.3');
  t.equal(await get(full), 200, 'a full handshake on the first server shows the chain');
  const session = await full.session;

  const here = await open(t, first.port, pki, leaf, 'TLSv1.3', session);
  t.equal(here.client.isSessionReused(), true);
  t.equal(await get(here), 200, 'resumed on the first server: judged on the chain it remembers');
  const same = await open(t, second.port, pki, leaf, 'TLSv1.3', session);
  t.equal(same.client.isSessionReused(), true);
  t.equal(await get(same), 200, 'resumed on a server with the same CAs: the same trust, the same chain');
  const there = await open(t, third.port, pki, leaf, 'TLSv1.3', session);
  t.equal(there.client.isSessionReused(), true);
  t.equal(await get(there), 403, 'resumed under other CAs: that chain was not verified under them');
  t.match(third.decisions.at(-1), { allow: false, reason: 'certificate-chain-unknown' });
});

t.test('guards see the intermediate of a resumed session', async (t) => {
  const pki = await ModelPki.create();
  const leaf = await pki.issue({
    cn: 'alice',
    tenant: 'A',
    viaIntermediate: true,
    lifetimeMs: 10 * LEAF_LIFETIME_MS,
    intermediateLifetimeMs: 5 * LEAF_LIFETIME_MS,
  });
  const intermediate = new X509Certificate(leaf.chain.slice(leaf.cert.length));
  // A fleet's revocation of the intermediate, as a guard sees it: by serial, anywhere in the chain.
  let revoked = false;
  const guard: DecisionGuard = {
    get generation() {
      return revoked ? 1 : 0;
    },
    judge: (facts) =>
      revoked && facts.chain.some((c) => c.serialNumber === intermediate.serialNumber) ? { deny: 'revoked' } : {},
    keys: () => [],
  };
  const s = await serve(t, 'node:https', pki, 'TLSv1.3', {}, guard);
  const full = await open(t, s.port, pki, leaf, 'TLSv1.3');
  t.equal(await get(full), 200);
  const resumed = await open(t, s.port, pki, leaf, 'TLSv1.3', await full.session);
  t.equal(resumed.client.isSessionReused(), true);
  t.equal(await get(resumed), 200);
  revoked = true;
  t.equal(await get(full), 403, 'the connection of the full handshake is denied');
  t.equal(await get(resumed), 403, 'and so is the resumed one, which shows the leaf alone');
  t.match(s.decisions.at(-1), { allow: false, reason: 'revoked' });
});
