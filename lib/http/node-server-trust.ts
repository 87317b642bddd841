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
 *   session was made under: it gets the context the callback was last seen to choose for its
 *   name, and when none was seen the chain is unknown and the request denied.
 * Judged so, a resumed client gets no more than a full handshake under its name would give it. A
 * TLS 1.2 session that resumes carries no name at node's level: it is judged as a full handshake
 * without a name would be, under the default context.
 *
 * What that context trusts: the `ca` and `crl` it was made with (node-context-cas.ts), or, for a
 * server default context made before the library loaded, the server's `ca` and `crl` as first
 * seen. Each native context's answer is kept as long as the context lives.
 */
import { TLSSocket } from 'node:tls';
import type * as ContextModule from '../tls/context.js';
import type { SecureContext } from '../tls/context.js';
import { ctlsError } from '../common/errors.js';
import { nodeContextTrust, pemText, type NodeContextTrust } from './node-context-cas.js';

/**
 * A library context with the verifying CAs; 'unknown' when they cannot be learnt (the chain node
 * shows is judged, with a warning); 'untold' when the verifying context cannot be told (a resumed
 * session behind an app's SNICallback for a name not seen here): the chain is unknown.
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

/** Per native context: the library context of its trust, or null when it is not known. */
const byNativeContext = new WeakMap<object, SecureContext | null>();

/** Library contexts by trust text, so contexts made alike share one (and its remembered chains). */
const byTrustText = new Map<string, SecureContext>();
const MAX_SHARED = 64;

function libraryContext(trust: NodeContextTrust): SecureContext | null {
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
    // PEM the library does not read as node does: nothing is known, nothing trusted more.
    return null;
  }
  if (byTrustText.size >= MAX_SHARED) byTrustText.delete(byTrustText.keys().next().value!);
  byTrustText.set(key, context);
  return context;
}

/** The library context for a native context's trust, decided once per native context. */
function trustOfContext(native: object, server: NodeServer): SecureContext | null {
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
  context = trust === undefined ? null : libraryContext(trust);
  byNativeContext.set(native, context);
  return context;
}

/** A name the app's SNICallback answered with no context: the server's default one. */
const kDefault = Symbol('default context');
type Choice = WeakRef<object> | typeof kDefault;

/** Per server with an app SNICallback, what it was last seen to choose for each name. */
const chosenByName = new WeakMap<object, Map<string, Choice>>();
const MAX_NAMES = 1024;
/** Sockets whose full handshake's choice was learnt: once each, so an old one never overwrites. */
const learntFrom = new WeakSet<object>();

function learn(server: object, name: string, choice: Choice): void {
  let names = chosenByName.get(server);
  if (names === undefined) {
    names = new Map();
    chosenByName.set(server, names);
  }
  names.delete(name);
  names.set(name, choice);
  if (names.size > MAX_NAMES) names.delete(names.keys().next().value!);
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

/**
 * The native context whose trust judges this connection's client: the one a full handshake would
 * get for its server name now; null when that cannot be told.
 */
function verifyingContext(socket: TLSSocket, handle: NodeTlsHandle, server: NodeServer): object | null {
  // A server's default context is replaced by setSecureContext(): today's judges old connections too.
  const defaultNow = server._sharedCreds?.context ?? handle._secureContext?.context ?? null;
  const servername = (socket as { servername?: unknown }).servername;
  const name = typeof servername === 'string' && servername !== '' ? servername : undefined;
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
  // Without a name node asks no SNICallback. node keeps no name for a TLS 1.2 session that resumes
  // either (its SNI selection runs after OpenSSL decided whether to keep the name with the session):
  // it is judged as a full handshake without a name would be, under the default context.
  if (name === undefined) return defaultNow;
  if (!socket.isSessionReused()) {
    const chosen = handle.sni_context;
    if (!learntFrom.has(socket)) {
      learntFrom.add(socket);
      learn(server, name, chosen === undefined ? kDefault : new WeakRef(chosen));
    }
    return chosen ?? defaultNow;
  }
  // A resumed session: what the app's SNICallback was last seen to choose for the name.
  const choice = callback === null ? undefined : chosenByName.get(server)?.get(name);
  if (choice === undefined) return null;
  return choice === kDefault ? defaultNow : (choice.deref() ?? null);
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
  if (context !== null) return context;
  warnTrustUnknown(server);
  return 'unknown';
}
