// Model-based property test of REST authorization. Random requests (spellings of a few routes,
// methods, Host, SNI name, client certificates trusted or not, tokens from two issuers, a risk signal) go to Express 5,
// Fastify 5 and a node:http app routing on new URL(), each with and without the decision cache.
// Invariants:
// - a handler runs only when an independent reference, computed from the route that actually ran
//   and the whole input it saw, allows the request;
// - the cache never changes an answer (cached and uncached servers answer the same status);
// - nothing answers 5xx.
// Runs: 200 by default, CTLS_PROPERTY_RUNS=<n> for more. A failure prints the shrunk request.
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { authorizeRequest } from '../../dist/http/authorize-request.js';
import type { AuthorizationInput } from '../../dist/common/types.js';
import type { JWK } from 'jose' with { 'resolution-mode': 'import' };
import { certs } from '../helpers/certs';
import { serverTls } from '../helpers/policy-https';
import { makeSigner } from '../helpers/policy-jwt';
import { rawHttp, type RawReply } from '../helpers/raw-http';

const RUNS = Number(process.env['CTLS_PROPERTY_RUNS'] ?? 200);
const ISSUER_A = 'https://a.test';

interface Facts {
  path: string;
  method: string;
  host: string | undefined;
  servername: string | undefined;
  cn: string | undefined;
  token: Record<string, unknown> | undefined;
  risk: number;
}

/**
 * The rule, written once over plain facts. The library applies it to its input (canonical path);
 * the reference applies it to what the handler that ran saw (its route and decoded parameters).
 */
function rule(f: Facts): boolean {
  const subject = f.cn ?? (typeof f.token?.['sub'] === 'string' ? f.token['sub'] : undefined);
  if (f.host === 'internal.test' && f.cn === undefined) return false;
  if (f.servername === 'locked.test' && !(f.method === 'GET' && f.path.startsWith('/public/'))) return false;
  if (f.risk >= 7) return false;
  if (f.path === '/admin') return f.method === 'GET' && f.token?.['iss'] === ISSUER_A && f.token['scope'] === 'admin';
  if (f.path.startsWith('/public/')) return f.method !== 'DELETE';
  if (f.path.startsWith('/users/')) return subject !== undefined && f.path.slice('/users/'.length) === subject;
  return subject !== undefined;
}

function policy(input: AuthorizationInput): boolean {
  const cn = input.peer.certificate?.subject.replace(/^.*CN=/s, '');
  const host = input.request!.headers.host;
  const servername = input.connection.servername;
  return rule({
    path: input.request!.path,
    method: input.request!.method,
    host: typeof host === 'string' ? host : undefined,
    servername: typeof servername === 'string' ? servername : undefined,
    cn,
    token: input.token,
    risk: Number(input.context['risk'] ?? 0),
  });
}
/** The same policy, declaring what it reads beyond the identity, action and resource. */
const declaredPolicy = Object.assign((input: AuthorizationInput) => policy(input), {
  factsRead: ['request.headers.host', 'context.risk', 'connection.servername'],
});

/** What the handler that ran saw; `path` is rebuilt from its route and decoded parameters. */
function reference(req: IncomingMessage, path: string): boolean {
  const socket = req.socket as tls.TLSSocket;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  // No renegotiation here, so node's first-handshake verdict is the current one.
  if (cn !== undefined && !socket.authorized) return false;
  const servername = socket.servername;
  const auth = req.headers.authorization;
  const token = auth
    ? (JSON.parse(Buffer.from(auth.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>)
    : undefined;
  // A HEAD runs the GET handler (RFC 9110 §9.3.2): the GET rule is the one that applies.
  const method = req.method === 'HEAD' ? 'GET' : req.method!;
  return rule({
    path,
    method,
    host: req.headers.host,
    servername: typeof servername === 'string' ? servername : undefined,
    cn: typeof cn === 'string' ? cn : undefined,
    token,
    risk: Number(req.headers['x-risk'] ?? 0),
  });
}

type Ran = { server: string; path: string; allowed: boolean };

function options(cache: boolean) {
  return {
    policy: cache ? declaredPolicy : policy,
    ...(cache ? {} : { cache: false as const }),
    jwt: { keys: { keys: [] as JWK[] }, required: false },
    context: (req: IncomingMessage) => ({ risk: Number(req.headers['x-risk'] ?? 0) }),
  };
}

async function servers(t: Test, keys: JWK[]) {
  const ran: Ran[] = [];
  const answer = (name: string, req: IncomingMessage, res: ServerResponse, path: string) => {
    ran.push({ server: name, path, allowed: reference(req, path) });
    res.end('ran');
  };
  const made: Array<{ name: string; port: number }> = [];
  const listen = async (name: string, server: https.Server) => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    made.push({ name, port: (server.address() as AddressInfo).port });
  };
  for (const cache of [false, true]) {
    const o = options(cache);
    o.jwt.keys.keys = keys;
    const suffix = cache ? '+cache' : '';

    // Express 5, default settings: case-insensitive, non-strict; parameters are decoded.
    const app = express();
    app.use(authorizeRequest(o).express());
    // Case-insensitive routing: the reference reads parameters case-folded, as the policy does.
    app.all('/admin', (req, res) => answer(`express${suffix}`, req, res, '/admin'));
    app.all('/public/:name', (req, res) =>
      answer(`express${suffix}`, req, res, `/public/${req.params.name.toLowerCase()}`),
    );
    app.all('/users/:id', (req, res) => answer(`express${suffix}`, req, res, `/users/${req.params.id.toLowerCase()}`));
    // A catch-all serves the concrete path it was given (its decoded segments).
    app.all('/{*rest}', (req, res) =>
      answer(
        `express${suffix}`,
        req,
        res,
        `/${((req.params as { rest?: string[] }).rest ?? []).join('/').toLowerCase()}`,
      ),
    );
    await listen(`express${suffix}`, https.createServer(serverTls, app));

    // Fastify 5, default options: case-sensitive, a trailing slash is another route.
    const f = Fastify({ forceCloseConnections: true, https: serverTls });
    await f.register(authorizeRequest(o).fastify);
    const route = (path: string, at: (params: Record<string, string>) => string) =>
      f.all(path, (req, reply) => {
        answer(`fastify${suffix}`, req.raw, reply.raw, at(req.params as Record<string, string>));
        reply.hijack();
      });
    route('/admin', () => '/admin');
    route('/public/:name', (p) => `/public/${p['name']}`);
    route('/users/:id', (p) => `/users/${p['id']}`);
    route('/*', (p) => `/${p['*']}`);
    await f.listen({ port: 0, host: '127.0.0.1' });
    t.teardown(() => f.close());
    made.push({ name: `fastify${suffix}`, port: (f.server.address() as AddressInfo).port });

    // node:http routing on new URL(), decoding each segment as apps do.
    const authz = authorizeRequest(o);
    await listen(
      `node${suffix}`,
      https.createServer(
        serverTls,
        authz.node((req, res) => {
          let url: URL;
          try {
            url = new URL(req.url!, 'https://localhost');
          } catch {
            return void res.writeHead(400).end();
          }
          const segments = url.pathname.split('/').map((s) => {
            try {
              return decodeURIComponent(s);
            } catch {
              return s;
            }
          });
          const path = segments.join('/');
          answer(`node${suffix}`, req, res, path);
        }),
      ),
    );
  }
  return { ran, made };
}

type Identity = 'alice' | 'bob' | 'mallory' | 'none';
const IDENTITIES: Record<Identity, object> = {
  alice: { key: certs.clientKey, cert: certs.clientChain },
  bob: { key: certs.client2Key, cert: certs.client2Chain },
  // CN=mallory from a CA the servers do not trust.
  mallory: { key: certs.clientWrongCaKey, cert: certs.clientWrongCaChain },
  none: {},
};

/** One keep-alive connection per (server, identity), reopened when the server closed it. */
function connections(t: Test) {
  const open = new Map<string, { send: ReturnType<typeof rawHttp>; socket: tls.TLSSocket }>();
  t.teardown(() => {
    for (const c of open.values()) c.socket.destroy();
  });
  return async (
    port: number,
    identity: Identity,
    servername: string,
    method: string,
    target: string,
    headers: Record<string, string>,
  ): Promise<RawReply> => {
    const id = `${port}/${identity}/${servername}`;
    let c = open.get(id);
    if (c === undefined || c.socket.destroyed || !c.socket.writable) {
      // The server certificate names localhost only: the test checks the chain, not the name.
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername,
        ca: certs.ca,
        checkServerIdentity: () => undefined,
        ...IDENTITIES[identity],
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      c = { socket, send: rawHttp(socket) };
      open.set(id, c);
    }
    try {
      return await c.send(method, target, headers);
    } catch {
      open.delete(id);
      return { status: 0, headers: {}, body: 'connection closed' };
    }
  };
}

/** Spellings of a path: case, escapes, trailing and doubled slashes, dot segments, absolute-form … */
const spelling = fc
  .tuple(
    fc.constantFrom('/admin', '/public/docs', '/users/alice', '/users/bob', '/other', '/'),
    fc.oneof(
      fc.constant([] as string[]),
      fc.array(
        fc.constantFrom(
          'keep',
          'upper',
          'escape',
          'escapeUpper',
          'trailing',
          'double',
          'absolute',
          'fragment',
          'query',
          'dot',
          'dotdot',
          'encodedDot',
          'slash2F',
          'backslash',
          'semicolon',
          'prefixDot',
        ),
        { maxLength: 3 },
      ),
    ),
    fc.nat(),
  )
  .map(([base, edits, seed]) => edits.reduce<string>((path, edit) => applyEdit(path, edit, seed), base));

function applyEdit(path: string, edit: string, seed: number): string {
  const at = 1 + (seed % Math.max(1, path.length - 1));
  const letter = path.slice(at).search(/[a-z]/);
  const i = letter === -1 ? -1 : at + letter;
  switch (edit) {
    case 'upper':
      return i === -1 ? path : path.slice(0, i) + path[i]!.toUpperCase() + path.slice(i + 1);
    case 'escape':
      return i === -1 ? path : `${path.slice(0, i)}%${path.charCodeAt(i).toString(16)}${path.slice(i + 1)}`;
    case 'escapeUpper':
      return i === -1
        ? path
        : `${path.slice(0, i)}%${path.charCodeAt(i).toString(16).toUpperCase()}${path.slice(i + 1)}`;
    case 'trailing':
      return `${path}/`;
    case 'double':
      return path.replace('/', '//');
    case 'absolute':
      return `http://evil.test${path}`;
    case 'fragment':
      return `${path}#frag`;
    case 'query':
      return `${path}?q=/admin`;
    case 'dot':
      return `${path}/.`;
    case 'dotdot':
      return `/public/..${path}`;
    case 'encodedDot':
      return `/public/%2e%2e${path}`;
    case 'slash2F':
      return path.replace(/\/([^/]*)$/, '%2F$1');
    case 'backslash':
      return path.replace(/\/([^/]*)$/, '\\$1');
    case 'semicolon':
      return `${path};x`;
    case 'prefixDot':
      return `/.${path}`;
    default:
      return path;
  }
}

t.test('handlers run only when the reference allows; the cache never changes an answer', async (t) => {
  const a = await makeSigner('a');
  const b = await makeSigner('b');
  const tokens = [
    undefined,
    await a.sign({ sub: 'alice', scope: 'admin' }, { issuer: ISSUER_A, expiresIn: '10m' }),
    await b.sign({ sub: 'alice', scope: 'admin' }, { issuer: 'https://b.test', expiresIn: '10m' }),
    await a.sign({ sub: 'bob', scope: 'read' }, { issuer: ISSUER_A, expiresIn: '10m' }),
    await a.sign({ azp: 'batch', scope: 'admin' }, { issuer: ISSUER_A, expiresIn: '10m' }),
  ];
  const { ran, made } = await servers(t, [a.publicJwk, b.publicJwk]);
  const send = connections(t);

  const request = fc.record({
    target: spelling,
    method: fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE'),
    host: fc.constantFrom('localhost', 'internal.test', 'LOCALHOST'),
    identity: fc.constantFrom<Identity>('alice', 'bob', 'mallory', 'none'),
    servername: fc.constantFrom('localhost', 'locked.test'),
    token: fc.nat({ max: tokens.length - 1 }),
    risk: fc.constantFrom(0, 3, 8),
  });

  const tally = { requests: 0, statuses: {} as Record<number, number> };
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const headers: Record<string, string> = { host: r.host, 'x-risk': String(r.risk) };
      const token = tokens[r.token];
      if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
      const statuses: Record<string, number> = {};
      tally.requests++;
      for (const { name, port } of made) {
        const before = ran.length;
        const reply = await send(port, r.identity, r.servername, r.method, r.target, headers);
        statuses[name] = reply.status;
        tally.statuses[reply.status] = (tally.statuses[reply.status] ?? 0) + 1;
        const runs = ran.slice(before);
        for (const run of runs) {
          if (!run.allowed)
            throw new Error(
              `${name}: the handler for ${run.path} ran, the reference denies it (status ${reply.status})`,
            );
        }
        if (reply.status >= 500) throw new Error(`${name}: ${reply.status} ${reply.body}`);
      }
      for (const name of ['express', 'fastify', 'node']) {
        if (statuses[name] !== statuses[`${name}+cache`])
          throw new Error(
            `${name}: the cache changed the answer (${statuses[name]} without, ${statuses[`${name}+cache`]} with)`,
          );
      }
    }),
    { numRuns: RUNS, endOnFailure: true },
  );
  t.ok(
    ran.length > 0,
    `${tally.requests} random requests to ${made.length} servers: ${ran.length} handler runs, ` +
      `statuses ${JSON.stringify(tally.statuses)}`,
  );
});
