/**
 * A development Shared Signals transmitter: a signing key (ES256), CAEP SETs signed with it, push
 * delivery (RFC 8935) to a receiver, and a small server with the transmitter's discovery document,
 * its JWKS, a poll endpoint (RFC 8936) and a verification endpoint. For tests and the demo only:
 * it keeps its queue in memory and trusts whoever calls it (unless given an authorization value).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as Jose from 'jose' with { 'resolution-mode': 'import' };
import { ctlsError } from '../common/errors.js';
import type { SubjectIdentifier } from '../fleet/subject-id.js';

export const CAEP_EVENTS = [
  'session-revoked',
  'credential-change',
  'token-claims-change',
  'assurance-level-change',
  'device-compliance-change',
] as const;
const CAEP_PREFIX = 'https://schemas.openid.net/secevent/caep/event-type/';
const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';

export interface SetContent {
  audience: string | string[];
  events: Record<string, Record<string, unknown>>;
  subject?: SubjectIdentifier;
  jti?: string;
  /** Seconds since the epoch (default now). */
  iat?: number;
}

export interface DevTransmitter {
  readonly issuer: string;
  readonly kid: string;
  /** The private key as a JWK (what --key saves). */
  readonly privateJwk: Jose.JWK;
  /** The public JWK Set a receiver trusts. */
  jwks(): Jose.JSONWebKeySet;
  sign(content: SetContent): Promise<string>;
  /** A CAEP event SET: `caep('session-revoked', { audience, subject })`. */
  caep(
    name: string,
    options: { audience: string | string[]; subject: SubjectIdentifier; fields?: Record<string, unknown> },
  ): Promise<string>;
}

export async function createDevTransmitter(options: {
  issuer: string;
  privateJwk?: Jose.JWK;
}): Promise<DevTransmitter> {
  const jose = await import('jose');
  let privateJwk = options.privateJwk;
  if (privateJwk === undefined) {
    const { privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
    privateJwk = { ...(await jose.exportJWK(privateKey)), alg: 'ES256' };
    privateJwk.kid = await jose.calculateJwkThumbprint(privateJwk);
  }
  const kid = privateJwk.kid ?? (await jose.calculateJwkThumbprint(privateJwk));
  const key = await jose.importJWK(privateJwk, 'ES256');
  const { d: _d, ...publicJwk } = privateJwk;
  const { issuer } = options;
  const sign = (content: SetContent): Promise<string> => {
    const claims: Record<string, unknown> = { events: content.events };
    if (content.subject !== undefined) claims['sub_id'] = content.subject;
    return new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', kid })
      .setIssuer(issuer)
      .setAudience(content.audience)
      .setIssuedAt(content.iat ?? Math.floor(Date.now() / 1000))
      .setJti(content.jti ?? randomUUID())
      .sign(key);
  };
  return {
    issuer,
    kid,
    privateJwk,
    jwks: () => ({ keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] }),
    sign,
    caep: (name, { audience, subject, fields = {} }) =>
      sign({
        audience,
        subject,
        events: { [`${CAEP_PREFIX}${name}`]: { event_timestamp: Math.floor(Date.now() / 1000), ...fields } },
      }),
  };
}

/** Loads the private JWK saved in `file`, or makes one and saves it there (readable by the owner only). */
export async function loadOrCreateKey(file: string): Promise<Jose.JWK> {
  if (existsSync(file)) {
    const jwk = JSON.parse(readFileSync(file, 'utf8')) as Jose.JWK;
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string')
      throw new Error(`${file} does not hold a private P-256 JWK`);
    return jwk;
  }
  const { privateJwk } = await createDevTransmitter({ issuer: 'urn:dev' });
  writeFileSync(file, `${JSON.stringify(privateJwk)}\n`, { mode: 0o600 });
  return privateJwk;
}

export interface PushResult {
  status: number;
  body: string;
}

/** Pushes one SET (RFC 8935) and returns the receiver's answer as it came. */
export async function pushSet(
  url: string,
  token: string,
  options: { authorization?: string; timeout?: number } = {},
): Promise<PushResult> {
  const headers: Record<string, string> = { 'content-type': 'application/secevent+jwt', accept: 'application/json' };
  if (options.authorization !== undefined) headers['authorization'] = options.authorization;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body: token,
      signal: AbortSignal.timeout(options.timeout ?? 10_000),
    });
    return { status: response.status, body: await response.text() };
  } catch (err) {
    throw ctlsError('ERR_CTLS_SSF_TRANSMITTER', `The receiver at ${url} could not be reached`, { cause: err });
  }
}

export interface DevTransmitterServer {
  /** The server's base URL, which is also the transmitter's issuer. */
  readonly url: string;
  readonly transmitter: DevTransmitter;
  /** Queues a SET for poll delivery; returns its jti. */
  enqueue(token: string, jti: string): void;
  /** jtis the receiver acknowledged, in order. */
  readonly acknowledged: string[];
  /** Errors the receiver reported in setErrs, by jti. */
  readonly reported: Record<string, { err: string; description?: string }>;
  /** SETs queued and not yet acknowledged, by jti. */
  readonly pending: Map<string, string>;
  /** Poll requests served (each poll request, acknowledging or not). */
  readonly polls: number;
  /** Where verification events go: pushed to this URL when set, else queued for polling. */
  pushTo: string | undefined;
  /** Answers the next `n` poll requests with 503 (to test a receiver's retries). */
  failNextPolls(n: number): void;
  close(): Promise<void>;
}

/** Starts the transmitter server on loopback (port 0: any free port). */
export async function startDevTransmitterServer(
  options: { audience: string; port?: number; authorization?: string; privateJwk?: Jose.JWK } = { audience: 'dev' },
): Promise<DevTransmitterServer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const transmitter = await createDevTransmitter({
    issuer: url,
    ...(options.privateJwk ? { privateJwk: options.privateJwk } : {}),
  });
  const state = {
    pending: new Map<string, string>(),
    acknowledged: [] as string[],
    reported: {} as Record<string, { err: string; description?: string }>,
    polls: 0,
    failures: 0,
    pushTo: undefined as string | undefined,
  };
  const handle = routes(url, transmitter, options, state);
  server.on('request', (req, res) => {
    handle(req, res).catch(() => send(res, 500, undefined));
  });
  return {
    url,
    transmitter,
    enqueue: (token, jti) => void state.pending.set(jti, token),
    acknowledged: state.acknowledged,
    reported: state.reported,
    pending: state.pending,
    get polls() {
      return state.polls;
    },
    get pushTo() {
      return state.pushTo;
    },
    set pushTo(value) {
      state.pushTo = value;
    },
    failNextPolls: (n) => void (state.failures = n),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface ServerState {
  pending: Map<string, string>;
  acknowledged: string[];
  reported: Record<string, { err: string; description?: string }>;
  polls: number;
  failures: number;
  pushTo: string | undefined;
}

function routes(
  url: string,
  transmitter: DevTransmitter,
  options: { audience: string; authorization?: string },
  state: ServerState,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const path = new URL(req.url ?? '/', url).pathname;
    if (req.method === 'GET' && path === '/.well-known/ssf-configuration') {
      return send(res, 200, {
        issuer: url,
        jwks_uri: `${url}/jwks.json`,
        delivery_methods_supported: ['urn:ietf:rfc:8935', 'urn:ietf:rfc:8936'],
        verification_endpoint: `${url}/verify`,
        spec_version: '1_0',
      });
    }
    if (req.method === 'GET' && path === '/jwks.json') return send(res, 200, transmitter.jwks());
    if (options.authorization !== undefined && req.headers.authorization !== options.authorization)
      return send(res, 401, { err: 'authentication_failed' });
    if (req.method === 'POST' && path === '/poll') return poll(res, await readJson(req), state);
    if (req.method === 'POST' && path === '/verify') {
      const body = await readJson(req);
      const jti = randomUUID();
      const token = await transmitter.sign({
        audience: options.audience,
        jti,
        subject: { format: 'opaque', id: String(body['stream_id'] ?? 'default') },
        events: { [VERIFICATION]: typeof body['state'] === 'string' ? { state: body['state'] } : {} },
      });
      if (state.pushTo !== undefined) await pushSet(state.pushTo, token);
      else state.pending.set(jti, token);
      return send(res, 204, undefined);
    }
    return send(res, 404, undefined);
  };
}

/** RFC 8936 poll: acknowledgements and errors first, then up to maxEvents SETs still pending. */
function poll(res: ServerResponse, body: Record<string, unknown>, state: ServerState): void {
  state.polls++;
  if (state.failures > 0) {
    state.failures--;
    return send(res, 503, undefined);
  }
  const ack = Array.isArray(body['ack']) ? body['ack'] : [];
  for (const jti of ack) {
    if (typeof jti === 'string' && state.pending.delete(jti)) state.acknowledged.push(jti);
  }
  const errs = body['setErrs'];
  if (errs !== null && typeof errs === 'object') {
    for (const [jti, err] of Object.entries(errs as Record<string, { err: string; description?: string }>)) {
      state.reported[jti] = err;
      state.pending.delete(jti);
    }
  }
  const max = typeof body['maxEvents'] === 'number' ? body['maxEvents'] : 25;
  const sets = Object.fromEntries([...state.pending].slice(0, max));
  send(res, 200, { sets, moreAvailable: state.pending.size > Object.keys(sets).length });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1 << 20) throw new Error('request too large');
    chunks.push(chunk);
  }
  if (size === 0) return {};
  const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
  res.end(text);
}
