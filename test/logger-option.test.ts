// The optional pino-compatible `logger` of createServer(), attach() and authorizeRequest(): allows at
// debug, denials at info, a failed policy at warn, engine warnings (a stale CRL) at warn, and errors
// at error; through `child({ component })` when the logger has one; never a token; a bad logger is
// refused at construction and a throwing one changes no decision.
import t from 'tap';
import * as tls from 'node:tls';
import { attach, authorizeRequest, createServer, reauthorize, type AuthorizationInput } from '../dist/index.js';
import { listen, waitFor } from './helpers/owned';
import { connectPair, makePki, mtlsOptions, startServer } from './helpers/mtls';
import { client, startHttps } from './helpers/policy-https';

interface Entry {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
  bindings: Record<string, unknown>;
}

/** A pino-shaped logger that keeps its entries. */
function memoryLogger(
  entries: Entry[],
  bindings: Record<string, unknown> = {},
  isLevelEnabled?: (level: string) => boolean,
) {
  const at =
    (level: string) =>
    (obj: Record<string, unknown>, msg = ''): void =>
      void entries.push({ level, obj, msg, bindings });
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more: Record<string, unknown>) => memoryLogger(entries, { ...bindings, ...more }, isLevelEnabled),
    ...(isLevelEnabled === undefined ? {} : { isLevelEnabled }),
  };
}

t.test('owned tier: decisions by level, a stale CRL at warn, through a child logger', async (t) => {
  const pki = await makePki();
  const entries: Entry[] = [];
  let allow = true;
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { policy: () => allow, logger: memoryLogger(entries) }),
  );
  const { socket } = await connectPair(t, server, port, pki);
  server.on('warning', () => {});
  await server.setCrl(await pki.ca.crls({ thisUpdate: new Date(Date.now() - 7_200_000) }));
  allow = false;
  await reauthorize(socket, { destroyOnDeny: false });

  const levels = entries.map((e) => [e.level, e.obj['trigger'] ?? e.obj['err'] ?? e.msg]);
  t.match(levels, [
    ['debug', 'handshake'],
    ['info', /trust changed/],
    ['warn', { code: 'ERR_CTLS_CRL_STALE' }],
    ['debug', 'revocation'],
    ['info', 'manual'],
  ]);
  t.ok(
    entries.every((e) => e.bindings['component'] === 'continuous-tls'),
    'through child({ component })',
  );
  t.match(entries[0]!.obj, { tier: 'owned', outcome: 'allow', subject: 'alice', serial: String });
  t.match(entries[4]!.obj, { tier: 'owned', outcome: 'deny', reason: 'denied' });
});

t.test('a policy that fails is logged at warn; a logger without child works as it is', async (t) => {
  const pki = await makePki();
  const entries: Entry[] = [];
  const { child: _child, ...plain } = memoryLogger(entries);
  let fail = false;
  const policy = (): boolean => {
    if (fail) throw new Error('policy bug');
    return true;
  };
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy, logger: plain }));
  const { socket } = await connectPair(t, server, port, pki);
  fail = true;
  t.equal((await reauthorize(socket, { destroyOnDeny: false })).allow, false);
  t.match(entries, [
    { level: 'debug', obj: { outcome: 'allow' } },
    { level: 'warn', obj: { tier: 'owned', outcome: 'deny', reason: 'policy-error' }, bindings: {} },
  ]);
});

t.test('attached tier logs as attached', async (t) => {
  const pki = await makePki();
  const entries: Entry[] = [];
  const server = tls.createServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
  });
  server.on('secureConnection', (s) => s.on('error', () => {}));
  const attachment = attach(server, {
    ca: pki.ca.rootCert,
    intermediates: pki.ca.issuerChain,
    logger: memoryLogger(entries),
  });
  t.teardown(() => attachment.detach());
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
  t.match(entries, [{ level: 'debug', obj: { tier: 'attached', trigger: 'handshake', outcome: 'allow' } }]);
});

t.test('authorizeRequest: decisions logged, never the token', async (t) => {
  const entries: Entry[] = [];
  const guard = authorizeRequest({
    policy: (input: AuthorizationInput) => input.request?.path !== '/admin',
    logger: memoryLogger(entries),
  });
  const url = await startHttps(
    t,
    guard.node((_req, res) => res.end('ok')),
  );
  const alice = client(t, url, 'alice');
  await alice('GET', '/items', { authorization: 'Bearer not-to-be-logged' });
  await alice('GET', '/admin', { authorization: 'Bearer not-to-be-logged' });
  t.match(entries, [
    { level: 'debug', obj: { tier: 'request', trigger: 'request', outcome: 'allow', subject: 'alice' } },
    { level: 'info', obj: { tier: 'request', outcome: 'deny' } },
  ]);
  t.notMatch(JSON.stringify(entries), /not-to-be-logged|authorization/i, 'no token, no header');
});

t.test('isLevelEnabled: a disabled level is not even built', async (t) => {
  const entries: Entry[] = [];
  const logger = memoryLogger(entries, {}, (level) => level !== 'debug');
  const guard = authorizeRequest({ policy: (input: AuthorizationInput) => input.request?.path !== '/admin', logger });
  const url = await startHttps(
    t,
    guard.node((_req, res) => res.end('ok')),
  );
  const alice = client(t, url, 'alice');
  await alice('GET', '/items');
  await alice('GET', '/admin');
  t.same(
    entries.map((e) => e.level),
    ['info'],
  );
});

t.test('a throwing logger changes no decision', async (t) => {
  const boom = (): never => {
    throw new Error('logger down');
  };
  const logger = { debug: boom, info: boom, warn: boom, error: boom, child: boom };
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki, { logger }));
  const { socket } = await connectPair(t, server, port, pki);
  t.equal((await reauthorize(socket)).allow, true);
  const guard = authorizeRequest({ policy: (input: AuthorizationInput) => input.request?.path !== '/admin', logger });
  const url = await startHttps(
    t,
    guard.node((_req, res) => res.end('ok')),
  );
  const alice = client(t, url, 'alice');
  t.equal((await alice('GET', '/items')).status, 200);
  t.equal((await alice('GET', '/admin')).status, 403);
});

t.test('a logger that is not one is refused with ERR_CTLS_INVALID_OPTION', async (t) => {
  const pki = await makePki();
  for (const logger of [null, 'console', { info() {} }, { ...console, child: 'yes' }]) {
    const bad = { logger } as unknown as { logger: undefined };
    t.throws(() => createServer(mtlsOptions(pki, bad)), { code: 'ERR_CTLS_INVALID_OPTION', message: /logger/ });
    t.throws(() => authorizeRequest({ policy: () => true, ...bad }), { code: 'ERR_CTLS_INVALID_OPTION' });
    t.throws(() => attach(tls.createServer(), { ca: pki.ca.rootCert, ...bad }), { code: 'ERR_CTLS_INVALID_OPTION' });
  }
  t.doesNotThrow(() => authorizeRequest({ policy: () => true, logger: console }), 'console is a logger');
});
