/**
 * The trust that verified the client of a node:tls server socket, as a library SecureContext under
 * which REST verifies the chain node shows (see peer.ts).
 *
 * Which context judges it: the one a full handshake would get for the connection's server name now.
 * - Behind node's own selection, the latest `addContext()` entry whose pattern matches the name,
 *   else the server's default context as it is now (a setSecureContext() reaches old connections).
 * - Behind an app's `SNICallback`, the context it chose at the connection's full handshake (the
 *   handle's `sni_context`, else the default). A resumed session runs no SNI selection (OpenSSL
 *   does that on full handshakes only), so its handle names the default context whatever name the
 *   session was made under: the callback is asked for its name again, once per connection, and
 *   its answer now judges the session; an error, no context or no answer in time deny.
 * Judged so, a resumed client gets no more than a full handshake under its name would give it. A
 * TLS 1.2 session that resumes carries no name at node's level: the name its full handshake had
 * here is kept by session (see namesBySession), else it is judged as a full handshake without a
 * name would be, under the default context.
 *
 * What that context trusts: the `ca` and `crl` it was made with (node-context-cas.ts), or, for a
 * server default context made before the library loaded, the server's `ca` and `crl` as first
 * seen. Each native context's answer is kept as long as the context lives.
 */
import { createHash } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import type * as ContextModule from '../tls/context.js';
import type { SecureContext } from '../tls/context.js';
import { ctlsError } from '../common/errors.js';
import { nodeContextTrust, pemText, type NodeContextTrust } from './node-context-cas.js';

/**
 * A library context with the verifying CAs; 'unknown' when they cannot be learnt (the chain node
 * shows is judged, with a warning); 'untold' when the verifying context or its trust cannot be
 * told (the app's SNICallback failed a resumed connection's name, or node loaded CAs the library
 * cannot read): the chain is unknown and the request denied.
 */
export type ServerTrust = SecureContext | 'unknown' | 'untold';

interface NodeServer {
  ca?: unknown;
  crl?: unknown;
  _sharedCreds?: { context?: object } | null;
  _contexts?: Array<[RegExp, object]>;
}

interface NodeTlsHandle {
  _secureContext?: { context?: object };
  sni_context?: object;
}

/**
 * The library's contexts, loaded at first use, not at import: continuous-tls/http must work where
 * the addon is not installed (then no trust is known and node's chain is judged).
 */
function contextModule(): typeof ContextModule {
  return require('../tls/context.js') as typeof ContextModule;
}

/**
 * Per native context: the library context of its trust; 'unknown' when the trust is not known;
 * 'unloadable' when it is known but the library cannot load it as node did.
 */
const byNativeContext = new WeakMap<object, SecureContext | 'unknown' | 'unloadable'>();

/** Library contexts by trust text, so contexts made alike share one (and its remembered chains). */
const byTrustText = new Map<string, SecureContext>();
const MAX_SHARED = 64;

function libraryContext(trust: NodeContextTrust): SecureContext | 'unloadable' {
  const key = trust.crl === undefined ? trust.ca : `${trust.ca}\0${trust.crl}`;
  let context = byTrustText.get(key);
  if (context !== undefined) return context;
  try {
    // node checks every CA of the chain against its CRLs and fails a stale one: so does 'strict'.
    context = contextModule().createSecureContext(
      trust.crl === undefined ? { ca: trust.ca } : { ca: trust.ca, crl: trust.crl, revocation: 'strict' },
      true,
    );
  } catch {
    // Text node loaded and the library does not: what node trusts cannot be told.
    return 'unloadable';
  }
  if (byTrustText.size >= MAX_SHARED) byTrustText.delete(byTrustText.keys().next().value!);
  byTrustText.set(key, context);
  return context;
}

/** The library context for a native context's trust, decided once per native context. */
function trustOfContext(native: object, server: NodeServer): SecureContext | 'unknown' | 'unloadable' {
  let context = byNativeContext.get(native);
  if (context !== undefined) return context;
  let trust = nodeContextTrust(native);
  if (trust === undefined && server._sharedCreds?.context === native) {
    // Made before the library loaded: the server's options as they are at first sight.
    const items = (value: unknown): unknown[] => (Array.isArray(value) ? [...value] : [value]);
    const ca = server.ca === undefined || server.ca === null ? undefined : pemText(items(server.ca));
    const crl = server.crl === undefined || server.crl === null ? undefined : pemText(items(server.crl));
    if (ca !== undefined && (server.crl === undefined || server.crl === null || crl !== undefined))
      trust = crl === undefined ? { ca } : { ca, crl };
  }
  context = trust === undefined ? 'unknown' : libraryContext(trust);
  byNativeContext.set(native, context);
  return context;
}

let sniCallbackKey: symbol | null | undefined;

/**
 * The SNICallback the app gave the server (node keeps it under an internal symbol): undefined
 * when node's own selection runs, null when this node keeps it where the library does not look.
 */
function appSniCallback(server: object): unknown {
  if (sniCallbackKey === undefined)
    sniCallbackKey = Object.getOwnPropertySymbols(server).find((key) => key.description === 'snicallback') ?? null;
  return sniCallbackKey === null ? null : (server as Record<symbol, unknown>)[sniCallbackKey];
}

/** The app's SNICallback answered with no context: the server's default one. */
const kDefault = Symbol('default context');
type Answer = object | typeof kDefault | null;

/**
 * A resumed connection's answer from the app's SNICallback, asked once per connection: the
 * native context, kDefault, or null (it failed, answered no context object, or not in time).
 */
const answers = new WeakMap<object, Answer | Promise<Answer>>();

/** How long a resumed connection's first request waits for the app's SNICallback. */
const SNI_ANSWER_TIMEOUT_MS = 5_000;

/**
 * The server names TLS 1.2 sessions were made under, by a digest of their master secret: node keeps
 * no name for a TLS 1.2 session that resumes (its SNI selection runs after OpenSSL decided whether
 * to keep the name with the session), and resumption keeps the master secret. Bounded, oldest out:
 * a session whose name is gone is judged as a full handshake without a name would be.
 */
const namesBySession = new Map<string, string>();
const MAX_SESSIONS = 10_000;
/** Per socket, the server name it is judged by (null: none), worked out once. */
const namesBySocket = new WeakMap<object, string | null>();

/** The master secret of a DER SSL_SESSION (its fifth field), or undefined. */
function masterSecret(der: Buffer): Buffer | undefined {
  let offset = 0;
  const header = (): { tag: number; length: number } | undefined => {
    if (offset + 2 > der.length) return undefined;
    const tag = der[offset++]!;
    let length = der[offset++]!;
    if (length & 0x80) {
      const bytes = length & 0x7f;
      if (bytes === 0 || bytes > 3 || offset + bytes > der.length) return undefined;
      length = 0;
      for (let index = 0; index < bytes; index++) length = (length << 8) | der[offset++]!;
    }
    return offset + length <= der.length ? { tag, length } : undefined;
  };
  if (header()?.tag !== 0x30) return undefined;
  for (let field = 0; field < 5; field++) {
    const element = header();
    if (element === undefined) return undefined;
    if (field === 4) return element.tag === 0x04 ? der.subarray(offset, offset + element.length) : undefined;
    offset += element.length;
  }
  return undefined;
}

function sessionDigest(socket: TLSSocket): string | undefined {
  const der = socket.getSession();
  const secret = der === undefined ? undefined : masterSecret(der);
  return secret === undefined || secret.length === 0 ? undefined : createHash('sha256').update(secret).digest('base64');
}

function serverNameOf(socket: TLSSocket): string | undefined {
  const known = namesBySocket.get(socket);
  if (known !== undefined) return known ?? undefined;
  const servername = (socket as { servername?: unknown }).servername;
  let name = typeof servername === 'string' && servername !== '' ? servername : undefined;
  if (socket.getProtocol() === 'TLSv1.2') {
    const digest = sessionDigest(socket);
    if (digest !== undefined && !socket.isSessionReused()) {
      if (name !== undefined) {
        namesBySession.delete(digest);
        namesBySession.set(digest, name);
        if (namesBySession.size > MAX_SESSIONS) namesBySession.delete(namesBySession.keys().next().value!);
      }
    } else if (digest !== undefined && name === undefined) {
      name = namesBySession.get(digest);
    }
  }
  namesBySocket.set(socket, name ?? null);
  return name;
}

function askSniCallback(socket: TLSSocket, callback: (...args: unknown[]) => unknown, name: string): Promise<Answer> {
  return new Promise<Answer>((resolve) => {
    let settled = false;
    const settle = (answer: Answer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      answers.set(socket, answer);
      resolve(answer);
    };
    const timer = setTimeout(() => settle(null), SNI_ANSWER_TIMEOUT_MS);
    timer.unref();
    try {
      // As node calls it at a full handshake: the name, and a callback taking (error, context).
      Reflect.apply(callback, socket, [
        name,
        (error: unknown, context: unknown): void => {
          if (error) return settle(null);
          if (context === undefined || context === null) return settle(kDefault);
          const native = (context as { context?: unknown }).context;
          settle(native !== null && typeof native === 'object' ? native : null);
        },
      ]);
    } catch {
      settle(null);
    }
  });
}

/**
 * For a resumed node:tls server connection behind an app's SNICallback, asks the callback for its
 * name once, as a full handshake would: what it answers now, not what it answered when the session
 * was made, judges the session (a tenant removed or rotated since then reaches it). Undefined when
 * there is nothing to wait for; REST awaits it before its first judgement of the connection.
 */
export function resumedSniAnswer(socket: unknown): Promise<unknown> | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  const known = answers.get(socket);
  if (known !== undefined) return known instanceof Promise ? known : undefined;
  const server = (socket as unknown as { server?: object | null }).server;
  if (server === undefined || server === null || !socket.isSessionReused()) return undefined;
  const callback = appSniCallback(server);
  const name = serverNameOf(socket);
  if (typeof callback !== 'function' || name === undefined) return undefined;
  const asked = askSniCallback(socket, callback as (...args: unknown[]) => unknown, name);
  // A callback that answered at once has left its answer already.
  if (!answers.has(socket)) answers.set(socket, asked);
  return asked;
}

/**
 * The native context whose trust judges this connection's client: the one a full handshake would
 * get for its server name now; null when that cannot be told.
 */
function verifyingContext(socket: TLSSocket, handle: NodeTlsHandle, server: NodeServer): object | null {
  // A server's default context is replaced by setSecureContext(): today's judges old connections too.
  const defaultNow = server._sharedCreds?.context ?? handle._secureContext?.context ?? null;
  const name = serverNameOf(socket);
  const callback = appSniCallback(server);
  if (callback === undefined) {
    // node's own selection: the latest addContext() entry whose pattern matches, else the default.
    const contexts = name === undefined ? [] : (server._contexts ?? []);
    for (let index = contexts.length - 1; index >= 0; index--) {
      const [pattern, native] = contexts[index]!;
      if (pattern.test(name!)) return native;
    }
    return defaultNow;
  }
  // Without a name node asks no SNICallback (a TLS 1.2 session whose name was not kept here is
  // judged as a full handshake without a name would be).
  if (name === undefined) return defaultNow;
  if (!socket.isSessionReused()) return handle.sni_context ?? defaultNow;
  // A resumed session: the callback's answer now (resumedSniAnswer), once it came.
  const answer = answers.get(socket);
  if (answer === undefined || answer === null || answer instanceof Promise) return null;
  return answer === kDefault ? defaultNow : answer;
}

/** Servers already warned about an unknown trust: once each. */
const warnedServers = new WeakSet<object>();

function warnTrustUnknown(server: object): void {
  if (warnedServers.has(server)) return;
  warnedServers.add(server);
  process.emitWarning(
    ctlsError(
      'ERR_CTLS_CLIENT_CAS_UNKNOWN',
      'the CAs that verified a client on this node:tls server are not known to continuous-tls (a secure ' +
        'context made before it loaded, from pfx, or on default roots); REST judges the chain node shows, ' +
        'which a client can pad with a cross-signed issuer. Give the context a `ca` option, made after ' +
        'continuous-tls is imported.',
    ),
  );
}

/**
 * For a node:tls server socket, what verified its client (see ServerTrust); undefined for any
 * other socket.
 */
export function serverTrust(socket: unknown): ServerTrust | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  const server = (socket as unknown as { server?: NodeServer | null }).server;
  if (server === undefined || server === null) return undefined;
  const handle = (socket as unknown as { _handle?: NodeTlsHandle | null })._handle;
  if (handle === undefined || handle === null) return 'untold';
  const native = verifyingContext(socket, handle, server);
  if (native === null) return 'untold';
  const context = trustOfContext(native, server);
  if (context === 'unloadable') return 'untold';
  if (context !== 'unknown') return context;
  warnTrustUnknown(server);
  return 'unknown';
}
