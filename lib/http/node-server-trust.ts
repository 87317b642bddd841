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
 *   session was made under: the callback is asked for the name again, once per connection and
 *   name, and its answer now judges the session; an error, no context or no answer within the
 *   server's handshake timeout deny.
 * The name is the one the client asks for now: its SNI, or, for a session below TLS 1.3 that
 * resumes (which keeps no name at node's level on Node 20), the request's Host. Judged so, a
 * resumed client gets no more than a full handshake under the name it asks for would give it.
 *
 * What that context trusts: the `ca` and `crl` it was made with (node-context-cas.ts), or, for a
 * server default context made before the library loaded, the server's `ca` and `crl` as first
 * seen. Each native context's answer is kept as long as the context lives.
 */
import { isIP } from 'node:net';
import { Server as TlsServer, TLSSocket } from 'node:tls';
import type * as ContextModule from '../tls/context.js';
import type * as NativeModule from '../tls/native.js';
import type { SecureContext } from '../tls/context.js';
import { ctlsError, invalidOption } from '../common/errors.js';
import { itemsOf, nodeContextChanged, nodeContextTrust, pemItems, type NodeContextTrust } from './node-context-cas.js';

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
 * Per native context: the library context of its trust (for the record it was made from: a CA or
 * CRL added to the native context later brings a new one); 'unknown' when the trust is not known;
 * 'unloadable' when it is known but the library cannot load it as node did.
 */
const byNativeContext = new WeakMap<
  object,
  { trust: NodeContextTrust | undefined; context: SecureContext | 'unknown' | 'unloadable' }
>();

/** Library contexts by trust text, so contexts made alike share one (and its remembered chains). */
const byTrustText = new Map<string, SecureContext>();
const MAX_SHARED = 64;

/**
 * What node loads from the items of a `ca` or `crl` option, read by the addon as node reads them:
 * each item on its own, certificates up to the first block node's reader stops at, or an item's
 * first CRL. One bad file does not hide the items after it, and nothing node skipped is trusted.
 */
function nodeLoads(kind: 'ca' | 'crl', items: readonly string[]): string {
  const { native } = require('../tls/native.js') as typeof NativeModule;
  return items.map((item) => native.nodeTrustItem(kind, Buffer.from(item, 'latin1'))).join('');
}

function libraryContext(trust: NodeContextTrust): SecureContext | 'unloadable' {
  const ca = nodeLoads('ca', trust.ca);
  const crl = trust.crl === undefined ? undefined : nodeLoads('crl', trust.crl);
  // node refuses a crl item it cannot read, so an empty reading is the library's failure.
  if (ca === '' || crl === '') return 'unloadable';
  const key = crl === undefined ? ca : `${ca}\0${crl}`;
  let context = byTrustText.get(key);
  if (context !== undefined) return context;
  try {
    // node checks every CA of the chain against its CRLs and fails a stale one: so does 'strict'.
    context = contextModule().createSecureContext(crl === undefined ? { ca } : { ca, crl, revocation: 'strict' }, true);
  } catch {
    // Text node loaded and the library does not: what node trusts cannot be told.
    return 'unloadable';
  }
  if (byTrustText.size >= MAX_SHARED) byTrustText.delete(byTrustText.keys().next().value!);
  byTrustText.set(key, context);
  return context;
}

/** The library context for a native context's trust, decided once per native context and record. */
function trustOfContext(native: object, server: NodeServer): SecureContext | 'unknown' | 'unloadable' {
  // Changed through node's native context since it was made in a way that cannot be followed.
  if (nodeContextChanged(native)) return 'unloadable';
  const recorded = nodeContextTrust(native);
  const cached = byNativeContext.get(native);
  if (cached !== undefined && cached.trust === recorded) return cached.context;
  let trust = recorded;
  if (trust === undefined && server._sharedCreds?.context === native) {
    // Made before the library loaded: the server's options as they are at first sight.
    const ca = server.ca === undefined || server.ca === null ? undefined : pemItems(itemsOf(server.ca));
    const crl = server.crl === undefined || server.crl === null ? undefined : pemItems(itemsOf(server.crl));
    if (ca !== undefined && (server.crl === undefined || server.crl === null || crl !== undefined))
      trust = crl === undefined ? { ca } : { ca, crl };
  }
  const context = trust === undefined ? 'unknown' : libraryContext(trust);
  byNativeContext.set(native, { trust: recorded, context });
  return context;
}

/** node's own symbols on a tls.Server, found on the first one seen. */
let serverSymbols: { sniCallback?: symbol; handshakeTimeout?: symbol } | undefined;

function symbolsOf(server: object): { sniCallback?: symbol; handshakeTimeout?: symbol } {
  if (serverSymbols === undefined) {
    const keys = Object.getOwnPropertySymbols(server);
    serverSymbols = {
      sniCallback: keys.find((key) => key.description === 'snicallback'),
      handshakeTimeout: keys.find((key) => key.description === 'handshake-timeout'),
    };
  }
  return serverSymbols;
}

/**
 * The SNICallback the app gave a tls.Server (node keeps it under an internal symbol): undefined
 * when node's own selection runs (and on servers that are no tls.Server), null when this node keeps
 * it where the library does not look (a resumed session's context cannot be told then).
 */
function appSniCallback(server: object): unknown {
  if (!(server instanceof TlsServer)) return undefined;
  const key = symbolsOf(server).sniCallback;
  return key === undefined ? null : (server as unknown as Record<symbol, unknown>)[key];
}

/** How long node would wait at a handshake, so at most how long a re-asked SNICallback may take. */
function handshakeTimeoutOf(server: object): number {
  const key = symbolsOf(server).handshakeTimeout;
  const value = key === undefined ? undefined : (server as Record<symbol, unknown>)[key];
  return typeof value === 'number' && value > 0 && Number.isFinite(value) ? value : 120_000;
}

/** The app's SNICallback answered with no context: the server's default one. */
const kDefault = Symbol('default context');
type Answer = object | typeof kDefault | null;

/**
 * Per resumed connection, the app's SNICallback's answer for each name it was asked: the native
 * context, kDefault, or null (it failed, answered something that is no context, or not in time).
 */
const answers = new WeakMap<object, Map<string, Answer | Promise<Answer>>>();
const MAX_NAMES_PER_CONNECTION = 4;

/**
 * The server name a request's Host (or HTTP/2's :authority) stands for, as a client would send it
 * as SNI: without its port, lower case, without a trailing dot; undefined for an IP literal, which
 * no client sends as SNI (RFC 6066 section 3), and for an empty one.
 */
export function requestHostName(headers: Record<string, string | string[] | undefined>): string | undefined {
  // HTTP/2's :authority first: it is what the server uses (RFC 9113 section 8.3.1), and a request
  // whose Host names another host is refused before this is asked (conflictingAuthority).
  const raw = headers[':authority'] ?? headers.host;
  if (typeof raw !== 'string' || raw.startsWith('[')) return undefined;
  const host = hostOf(raw);
  return host === '' || isIP(host) !== 0 ? undefined : host;
}

/**
 * Whether an HTTP/2 request's Host field names another host than its :authority. RFC 9113 section
 * 8.3.1 makes such a request malformed; judged by one and routed by the other, a client trusted
 * under one tenant's name would be served as another's.
 */
export function conflictingAuthority(headers: Record<string, string | string[] | undefined>): boolean {
  const authority = headers[':authority'];
  const host = headers.host;
  if (authority === undefined || host === undefined) return false;
  return typeof authority !== 'string' || typeof host !== 'string' || hostOf(authority) !== hostOf(host);
}

/** The host of an authority, as SNI would name it: no port, lower case, no trailing dot. */
function hostOf(authority: string): string {
  let host: string;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    host = end === -1 ? authority : authority.slice(0, end + 1);
  } else {
    const colon = authority.indexOf(':');
    host = colon === -1 ? authority : authority.slice(0, colon);
  }
  host = host.toLowerCase();
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/**
 * The server name a connection is judged by: the SNI it sent, or, for a session below TLS 1.3
 * that resumes where node keeps no name for it (Node 20), the request's Host; undefined without one.
 */
function serverNameOf(socket: TLSSocket, requestHost: string | undefined): string | undefined {
  const servername = (socket as { servername?: unknown }).servername;
  if (typeof servername === 'string' && servername !== '') return servername;
  // Below TLS 1.3 a session that resumes may keep no name at node's level (TLS 1.0 to 1.2 alike).
  return requestHost !== undefined && socket.isSessionReused() && socket.getProtocol() !== 'TLSv1.3'
    ? requestHost
    : undefined;
}

function askSniCallback(
  socket: TLSSocket,
  server: object,
  callback: (...args: unknown[]) => unknown,
  name: string,
  asked: Map<string, Answer | Promise<Answer>>,
): Promise<Answer> {
  return new Promise<Answer>((resolve) => {
    let settled = false;
    const settle = (answer: Answer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      asked.set(name, answer);
      resolve(answer);
    };
    const timer = setTimeout(() => settle(null), handshakeTimeoutOf(server));
    timer.unref();
    // An answer given before the callback returns waits for it to return: a callback that
    // answers and then throws (or answers twice) failed, and is refused as at a handshake.
    let returned = false;
    let early: Answer | undefined;
    let calls = 0;
    const answer = (result: Answer): void => {
      calls++;
      if (calls > 1 && settled) {
        // A second answer after the first was taken: node:tls destroys such a connection
        // (ERR_MULTIPLE_CALLBACK), and no later request may pass under either answer.
        asked.set(name, null);
        socket.destroy(invalidOption('SNICallback', 'a callback answered once per connection (it answered again)'));
        return;
      }
      if (returned) settle(result);
      else early = early === undefined ? result : null;
    };
    try {
      // As node calls it at a full handshake, and reads its answer as node does: a falsy context
      // is the default one, a SecureContext gives its native context, a native one is taken as is.
      Reflect.apply(callback, socket, [
        name,
        (error: unknown, context: unknown): void => {
          if (error) return answer(null);
          if (!context) return answer(kDefault);
          const native = (context as { context?: unknown }).context || context;
          answer(typeof native === 'object' ? native : null);
        },
      ]);
    } catch {
      settle(null);
      return;
    }
    returned = true;
    if (early !== undefined) settle(early);
  });
}

/**
 * For a resumed node:tls server connection behind an app's SNICallback, asks the callback for its
 * name, as a full handshake would, once per connection and name: what it answers now, not what it
 * answered when the session was made, judges the session (a tenant removed or rotated since then
 * reaches it). Undefined when there is nothing to wait for; REST awaits it before it judges.
 */
export function resumedSniAnswer(socket: unknown, requestHost?: string): Promise<unknown> | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  const server = (socket as unknown as { server?: object | null }).server;
  if (server === undefined || server === null) return undefined;
  const callback = appSniCallback(server);
  if (typeof callback !== 'function' || !socket.isSessionReused()) return undefined;
  const name = serverNameOf(socket, requestHost);
  if (name === undefined) return undefined;
  let asked = answers.get(socket);
  const known = asked?.get(name);
  if (known !== undefined) return known instanceof Promise ? known : undefined;
  if (asked === undefined) {
    asked = new Map();
    answers.set(socket, asked);
  }
  // Requests on one connection may name other hosts, each asked for as a handshake would: a few,
  // not one call per request; past them a name is not asked and the request is denied.
  if (asked.size >= MAX_NAMES_PER_CONNECTION) return undefined;
  const pending = askSniCallback(socket, server, callback as (...args: unknown[]) => unknown, name, asked);
  // A callback that answered at once has left its answer already.
  if (!asked.has(name)) asked.set(name, pending);
  return pending;
}

/**
 * The native context whose trust judges this connection's client: the one a full handshake would
 * get for the name it asks for now; null when that cannot be told.
 */
function verifyingContext(
  socket: TLSSocket,
  handle: NodeTlsHandle,
  server: NodeServer,
  requestHost: string | undefined,
): object | null {
  // A server's default context is replaced by setSecureContext(): today's judges old connections too.
  const defaultNow = server._sharedCreds?.context ?? handle._secureContext?.context ?? null;
  const name = serverNameOf(socket, requestHost);
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
  // Without a name node asks no SNICallback.
  if (name === undefined) return defaultNow;
  if (!socket.isSessionReused()) return handle.sni_context ?? defaultNow;
  // A resumed session: the callback's answer now (resumedSniAnswer), once it came.
  const answer = answers.get(socket)?.get(name);
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
export function serverTrust(socket: unknown, requestHost?: string): ServerTrust | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  const server = (socket as unknown as { server?: NodeServer | null }).server;
  if (server === undefined || server === null) return undefined;
  const handle = (socket as unknown as { _handle?: NodeTlsHandle | null })._handle;
  if (handle === undefined || handle === null) return 'untold';
  const native = verifyingContext(socket, handle, server, requestHost);
  if (native === null) return 'untold';
  const context = trustOfContext(native, server);
  if (context === 'unloadable') return 'untold';
  if (context !== 'unknown') return context;
  warnTrustUnknown(server);
  return 'unknown';
}
