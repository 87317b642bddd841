/**
 * The client identity a REST request is judged on: the certificate of the handshake that is in
 * force on its connection, whether that handshake verified it, and the validity window of its chain.
 *
 * node:tls sets `socket.authorized` once, at the first handshake, and never resets it. On TLS 1.2
 * a renegotiation (started by either side, RFC 5746) can bring another certificate, which
 * `getPeerCertificate()` then reports while `authorized` still describes the first one. So on
 * TLS 1.2 the verification result is read again for every request from the TLS handle: OpenSSL's
 * SSL_get_verify_result() is the result of the chain presented in the latest handshake (or of the
 * session it resumed). TLS 1.3 has no renegotiation and node offers no post-handshake
 * authentication, so there the first handshake's result stands.
 *
 * The validity window is that of the whole chain: node checks dates once, at the handshake, and
 * a resumed session keeps the leaf alone (see verified-chains.ts). A chain that cannot be
 * established (a resumed leaf whose issuer is neither in the server's CA store nor remembered
 * from a full handshake under the same context) leaves the window unknown, and the request denied.
 */
import type { X509Certificate } from 'node:crypto';
import { TLSSocket, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import type * as ContextModule from '../tls/context.js';
import type { SecureContext } from '../tls/context.js';
import { peerLeaf } from '../tls/node-peer.js';
import { parsedCertificate } from '../tls/parsed-certificates.js';
import { kExchangeVerdict, kVerifiedChain } from '../tls/symbols.js';
import type { ExchangeVerdict } from '../tls/peer-verification.js';
import { serverTrust, type ServerTrust } from './node-server-trust.js';
import { recallVerifiedChain, rememberVerifiedChain } from './verified-chains.js';

export interface PeerIdentity {
  certificate?: X509Certificate;
  verified: boolean;
  verifyError?: string;
  /**
   * Whether the chain behind `certificate`, and so its window, is known (true without a
   * certificate). When false, notBefore/notAfter are the leaf's and must not be relied on.
   */
  chainKnown: boolean;
  /** Epoch ms: the chain is valid from notBefore (latest of the chain) to notAfter (earliest). */
  notBefore: number;
  notAfter: number;
}

/** The socket shapes authorizeRequest reads: node's TLSSocket, the owned tier's, or plain TCP. */
export interface PeerSocket {
  getPeerX509Certificate?(): X509Certificate | undefined;
  getPeerCertificate?(detailed?: boolean): PeerCertificate | DetailedPeerCertificate | Record<string, never> | null;
  authorized?: boolean;
  authorizationError?: string | Error | null;
  remoteAddress?: string;
  servername?: string | false;
  alpnProtocol?: string | false;
  getProtocol?(): string | null;
  getCipher?(): { name: string } | undefined;
  isSessionReused?(): boolean;
  reauthCount?: number;
}

interface TlsHandle {
  verifyError?(): (Error & { code?: string }) | null | undefined;
  /** node's native SecureContext of the handle, and the one its SNICallback chose. */
  _secureContext?: { context?: object };
  sni_context?: object;
}

/**
 * `requestHost`: the host name the request names (its Host), which stands for the server name a
 * TLS 1.2 session that resumes no longer carries (see node-server-trust.ts).
 */
export function peerIdentity(socket: PeerSocket, requestHost?: string): PeerIdentity {
  const nodeTls = socket instanceof TLSSocket;
  const certificate = nodeTls ? peerLeaf(socket) : socket.getPeerX509Certificate?.();
  if (certificate === undefined) return { verified: false, chainKnown: true, notBefore: -Infinity, notAfter: Infinity };
  let verified = socket.authorized === true;
  let verifyError =
    typeof socket.authorizationError === 'string' ? socket.authorizationError : socket.authorizationError?.message;
  if (nodeTls && verified && socket.getProtocol() !== 'TLSv1.3') {
    const handle = handleOf(socket);
    // No handle (the socket is closing) or no way to ask: not known to be verified.
    const error: (Error & { code?: string }) | null | undefined =
      typeof handle?.verifyError === 'function' ? handle.verifyError() : new Error('UNKNOWN');
    if (error) {
      verified = false;
      verifyError = error.code ?? error.message;
    }
  }
  const known = knownChain(socket, certificate, verified, requestHost);
  const window = known ?? leafWindow(certificate);
  const identity: PeerIdentity = {
    certificate,
    verified,
    chainKnown: known !== undefined,
    notBefore: window.notBefore,
    notAfter: window.notAfter,
  };
  if (!verified) identity.verifyError = verifyError ?? 'UNKNOWN';
  return identity;
}

/**
 * The chain behind `leaf`, for checks that must see intermediates too (a revoked intermediate
 * revokes what it issued): the one its window was established from, else the leaf alone.
 */
export function peerChain(socket: PeerSocket, leaf: X509Certificate): readonly X509Certificate[] {
  const known = chains.get(socket);
  return known !== undefined && known.leaf === leaf ? known.chain : [leaf];
}

/** What a socket's current leaf is known to come with. */
interface KnownChain {
  leaf: X509Certificate;
  /** The owned tier's verdict it was bounded by, if any: a new exchange brings a new one. */
  verdict: ExchangeVerdict | null;
  /** The owned tier's trust generation it was established under: a CA or CRL change re-reads it. */
  generation: number | undefined;
  /** On a node:tls server, the trust it was judged under (see serverTrust): another re-reads it. */
  judgedUnder: ServerTrust | undefined;
  /** Leaf first; the leaf alone when only the owned tier's own verification bounds the window. */
  chain: readonly X509Certificate[];
  notBefore: number;
  notAfter: number;
}

/** Per socket; only chains that are known are kept, so a missing one is looked for again. */
const chains = new WeakMap<object, KnownChain>();

/**
 * Establishes the chain behind `leaf` and its window: the chain node (or the owned tier) shows when
 * it runs up to a root, else the one remembered for this leaf under the same context, else, on
 * the owned tier, the horizon of the chain the library verified for this exchange. A chain shown
 * complete at a full handshake that verified is remembered for the session's resumptions.
 */
function knownChain(
  socket: PeerSocket,
  leaf: X509Certificate,
  verified: boolean,
  requestHost: string | undefined,
): KnownChain | undefined {
  const verdict = exchangeVerdictOf(socket);
  const memo = chains.get(socket);
  const generation = verdict?.trust.trustGeneration;
  const judgedUnder = verdict === null ? serverTrust(socket, requestHost) : undefined;
  if (
    memo !== undefined &&
    memo.leaf === leaf &&
    memo.verdict === verdict &&
    memo.generation === generation &&
    memo.judgedUnder === judgedUnder
  )
    return memo;
  // On the owned tier, the chain OpenSSL built for this exchange, or for a resumed session the one
  // the library's verification of its leaf builds under the socket's trust.
  let chain = ownedVerifiedChain(socket, leaf);
  if (chain === undefined && judgedUnder !== undefined) {
    chain = nodeServerChain(socket, leaf, verified, judgedUnder);
  } else if (chain === undefined) {
    const trust = trustOf(socket, verdict);
    const shown = shownChain(socket, leaf);
    if (shown.complete) {
      chain = shown.chain;
      // A resumed session's chain is completed from the store by name, not verified: not remembered.
      if (verified && trust !== undefined && socket.isSessionReused?.() === false) rememberVerifiedChain(trust, chain);
    } else if (trust !== undefined) {
      chain = recallVerifiedChain(trust, leaf);
    }
  }
  // The owned tier verified this exchange itself (a resumed one too) up to a store CA: its
  // horizon covers the whole chain it built.
  const horizon = verdict?.ok === true ? verdict.notAfter : undefined;
  if (chain === undefined && horizon === undefined) return undefined;
  const known: KnownChain = {
    leaf,
    verdict,
    generation,
    judgedUnder,
    chain: chain ?? [leaf],
    ...chainWindow(chain ?? [leaf]),
  };
  if (horizon !== undefined && horizon < known.notAfter) known.notAfter = horizon;
  // Without its chain the next request looks again: a full handshake may have shown it meanwhile.
  if (chain !== undefined) chains.set(socket, known);
  return known;
}

/**
 * On a node:tls server socket, the chain the library's verification builds from what node shows,
 * under the CAs of the context that judges the connection as they are now (a keep-alive connection
 * outliving a setSecureContext() is judged on today's). Remembered per CA set for resumed sessions.
 * When those CAs are unknown, the chain node shows is judged (each link checked by signature) and
 * never remembered: it may be padding that another connection of the same leaf must not inherit.
 */
function nodeServerChain(
  socket: PeerSocket,
  leaf: X509Certificate,
  verified: boolean,
  trust: ServerTrust,
): readonly X509Certificate[] | undefined {
  if (trust === 'untold') return undefined;
  if (trust === 'unknown') {
    const shown = shownChain(socket, leaf);
    return shown.complete ? shown.chain : undefined;
  }
  const chain = serverVerifiedChain(trust, presentedRaw(socket, leaf));
  if (chain === undefined) {
    // A resumed session shows its leaf alone: the chain remembered from its full handshake,
    // verified again now (a CRL or a clock may refuse it since), or nothing.
    const recalled = recallVerifiedChain(trust, leaf);
    return recalled === undefined
      ? undefined
      : serverVerifiedChain(
          trust,
          recalled.map((item) => item.raw),
        );
  }
  if (verified && socket.isSessionReused?.() === false) rememberVerifiedChain(trust, chain);
  return chain;
}

/**
 * On the owned tier, the chain verification stood on for `leaf`, leaf first and anchor last;
 * undefined on other sockets, and when it did not verify (the leaf alone).
 */
function ownedVerifiedChain(socket: PeerSocket, leaf: X509Certificate): readonly X509Certificate[] | undefined {
  const read = (socket as { [kVerifiedChain]?: () => X509Certificate[] })[kVerifiedChain];
  if (typeof read !== 'function') return undefined;
  const chain = read.call(socket);
  return chain.length > 1 && chain[0]!.fingerprint256 === leaf.fingerprint256 ? chain : undefined;
}

/**
 * The chain the socket shows with its leaf, as node links it (issuerCertificate, up to a root that
 * links to itself; node completes what the peer sent from the server's CA store), and whether it
 * reaches a root: when it does not, an issuer is missing and the window is not the chain's.
 */
function shownChain(socket: PeerSocket, leaf: X509Certificate): { chain: X509Certificate[]; complete: boolean } {
  const chain = [leaf];
  let link = socket.getPeerCertificate?.(true) as DetailedPeerCertificate | null | undefined;
  for (let depth = 0; link && link.raw !== undefined && depth < 16; depth++) {
    const issuer: DetailedPeerCertificate | undefined = link.issuerCertificate;
    // node ends a complete chain with the root linking to itself. (It prefers what the client sent
    // to its store when it links: where the server's CAs can be read, serverVerifiedChain is used
    // instead, see knownChain.)
    if (issuer === link || (issuer?.raw !== undefined && issuer.raw.equals(link.raw))) return { chain, complete: true };
    if (issuer?.raw === undefined) break;
    const next = parsedCertificate(issuer.raw);
    // node links by name and key identifier, not by signature: a client can present a look-alike
    // of a store CA (same name, its own key) that node shows in the real one's place. A link
    // counts only when the issuer's key verifies the certificate's signature.
    if (!signedBy(chain[chain.length - 1]!, next)) break;
    chain.push(next);
    link = issuer;
  }
  return { chain, complete: false };
}

/**
 * The library's contexts, loaded at first use, not at import: continuous-tls/http must work where
 * the addon is not installed (then no server's CAs are known and node's chain is judged).
 */
function contextModule(): typeof ContextModule {
  return require('../tls/context.js') as typeof ContextModule;
}

/** The leaf and the issuers node shows above it, as DER, for the library to verify. */
function presentedRaw(socket: PeerSocket, leaf: X509Certificate): Buffer[] {
  const presented = [leaf.raw];
  let link = socket.getPeerCertificate?.(true) as DetailedPeerCertificate | null | undefined;
  for (let depth = 0; link?.issuerCertificate?.raw !== undefined && depth < 16; depth++) {
    if (link.issuerCertificate === link) break;
    presented.push(link.issuerCertificate.raw);
    link = link.issuerCertificate;
  }
  return presented;
}

/** The chain the library's verification builds from `presented` (leaf first) under `trust`. */
function serverVerifiedChain(trust: SecureContext, presented: Buffer[]): readonly X509Certificate[] | undefined {
  const outcome = contextModule().verifyWithHorizon(trust, presented, 'sslclient');
  if (!outcome.ok || outcome.chain === undefined || outcome.chain.length === 0) return undefined;
  return outcome.chain.map(parsedCertificate);
}

/** Links already checked (issued-by and signature), by both fingerprints; bounded, oldest out. */
const checkedLinks = new Map<string, boolean>();
const MAX_CHECKED_LINKS = 4096;

function signedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  const key = `${certificate.fingerprint256}>${issuer.fingerprint256}`;
  let holds = checkedLinks.get(key);
  if (holds === undefined) {
    try {
      holds = certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
    } catch {
      holds = false;
    }
    if (checkedLinks.size >= MAX_CHECKED_LINKS) checkedLinks.delete(checkedLinks.keys().next().value!);
    checkedLinks.set(key, holds);
  }
  return holds;
}

function chainWindow(chain: readonly X509Certificate[]): { notBefore: number; notAfter: number } {
  let notBefore = -Infinity;
  let notAfter = Infinity;
  for (const certificate of chain) {
    const from = Date.parse(certificate.validFrom);
    const to = Date.parse(certificate.validTo);
    if (from > notBefore) notBefore = from;
    if (to < notAfter) notAfter = to;
  }
  return { notBefore, notAfter };
}

function leafWindow(leaf: X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo) };
}

function handleOf(socket: TLSSocket): TlsHandle | null | undefined {
  return (socket as unknown as { _handle?: TlsHandle | null })._handle;
}

/** The owned tier's verdict on the latest exchange (null on other sockets). */
function exchangeVerdictOf(socket: PeerSocket): ExchangeVerdict | null {
  return (socket as { [kExchangeVerdict]?: ExchangeVerdict | null })[kExchangeVerdict] ?? null;
}

/** The context that verified the socket's peer: what a remembered chain is keyed by. */
function trustOf(socket: PeerSocket, verdict: ExchangeVerdict | null): object | undefined {
  if (verdict !== null) return verdict.trust;
  if (!(socket instanceof TLSSocket)) return undefined;
  const handle = handleOf(socket);
  return handle?.sni_context ?? handle?._secureContext?.context;
}
