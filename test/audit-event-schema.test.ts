// The audit event's schema is part of the API (docs/api.md, "Audit events"): the exact keys of the
// events of both tiers and of authorizeRequest are pinned here, so a change to them is deliberate
// and comes with the docs' table. Every value has its documented type.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import {
  attach,
  authorizeRequest,
  decisionEvent,
  reauthorize,
  type AuditEvent,
  type DecisionEvent,
} from '../dist/index.js';
import { listen, waitFor } from './helpers/owned';
import { connectPair, makePki, mtlsOptions, startServer } from './helpers/mtls';
import { client, startHttps } from './helpers/policy-https';

const COMMON = ['trigger', 'outcome', 'reason', 'durationMs', 'source'];
const CERTIFICATE = ['subject', 'serial', 'fingerprint'];
const CONNECTION = ['expiresAt', 'subjectDN', 'remoteAddress'];

const keys = (event: object): string[] => Object.keys(event).sort();
const sorted = (...lists: string[][]): string[] => lists.flat().sort();

function checkTypes(t: Test, event: Partial<DecisionEvent>): void {
  t.match(event.trigger, /^(handshake|interval|expiry|manual|certificate|revocation|policy-change|request)$/);
  t.match(event.outcome, /^(allow|deny)$/);
  t.type(event.reason, 'string');
  t.type(event.durationMs, 'number');
  t.match(event.source, /^(engine|cache|verification|fallback)$/);
  for (const field of ['subject', 'serial', 'fingerprint', 'subjectDN', 'remoteAddress', 'note'] as const) {
    if (field in event) t.type(event[field], 'string', field);
  }
  if ('expiresAt' in event) t.type(event.expiresAt, 'number');
}

t.test('owned tier: the connection event, with note when reauthorize() was given a reason', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const events: DecisionEvent[] = [];
  server.on('decision', (event) => events.push(event));
  const { socket } = await connectPair(t, server, port, pki);
  await reauthorize(socket, { reason: 'wire-transfer' });
  t.same(keys(events[0]!), sorted(COMMON, CERTIFICATE, CONNECTION), 'handshake');
  t.same(keys(events[1]!), sorted(COMMON, CERTIFICATE, CONNECTION, ['note']), 'manual, with a note');
  for (const event of events) checkTypes(t, event);
});

t.test('attached tier: the same connection event', async (t) => {
  const pki = await makePki();
  const server = tls.createServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
  });
  server.on('secureConnection', (s) => s.on('error', () => {}));
  const attachment = attach(server, { ca: pki.ca.rootCert, intermediates: pki.ca.issuerChain });
  t.teardown(() => attachment.detach());
  const events: DecisionEvent[] = [];
  server.on('decision', (event: DecisionEvent) => events.push(event));
  const port = await listen(t, server);
  const peer = tls.connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  peer.on('error', () => {});
  t.teardown(() => peer.destroy());
  await waitFor(server, 'secureConnection');
  t.same(keys(events[0]!), sorted(COMMON, CERTIFICATE, CONNECTION));
  checkTypes(t, events[0]!);
});

t.test('authorizeRequest: the common event, certificate fields when there is a certificate', async (t) => {
  const events: AuditEvent[] = [];
  const guard = authorizeRequest({
    policy: () => true,
    onDecision: (decision, input) => events.push(decisionEvent(decision, input)),
  });
  const url = await startHttps(
    t,
    guard.node((_req, res) => res.end('ok')),
  );
  await client(t, url, 'alice')('GET', '/');
  await client(t, url, 'none')('GET', '/');
  t.same(keys(events[0]!), sorted(COMMON, CERTIFICATE), 'with a client certificate');
  t.same(keys(events[1]!), sorted(COMMON), 'without one (and without a token)');
  for (const event of events) checkTypes(t, event);
});

t.test('a token subject fills `subject` alone', async (t) => {
  const event = decisionEvent(
    { allow: true, reason: 'ok', trigger: 'request', expiresAt: Infinity, source: 'engine', durationMs: 1 },
    {
      trigger: 'request',
      peer: { chain: [], verified: false },
      connection: { ageMs: 0, reauthCount: 0 },
      token: { sub: 'svc-billing', scope: 'secret-scope' },
      context: {},
    },
  );
  t.same(keys(event), sorted(COMMON, ['subject']));
  t.equal(event.subject, 'svc-billing');
});
