/**
 * The intermediates each leaf was verified with at a full handshake, for its resumed sessions.
 *
 * A resumed session holds the peer's leaf and not the chain it came with (RFC 8446 section 4.6.1,
 * RFC 5077 section 4), and the owned tier verifies it again, which needs the intermediates the
 * leaf was verified with. Each leaf's are remembered apart, keyed by the SHA-256 of its whole DER
 * and answered only for the exact same DER, so a peer can write only the entry of a leaf whose key
 * it holds, and a flood of entries evicts the flooder's own first (least recently used out).
 * Only the chain OpenSSL built is kept, never the extras a peer sends beside it. What is kept
 * grants nothing: the lone leaf is verified with it under the context's trust of the moment.
 */
import { createHash } from 'node:crypto';

/** How many leaves' intermediates one scope keeps. A leaf pushed out fails closed until its next full handshake. */
const MAX_LEAVES_PER_SCOPE = 16_384;
/** How many trusts (distinct CA sets) new contexts find a scope for; a context keeps its own scope regardless. */
const MAX_SCOPES = 64;
/** Longer paths than this are not remembered (OpenSSL's own default depth limit is 100). */
const MAX_INTERMEDIATES = 16;

interface Entry {
  /** The leaf's DER, compared in full on recall. */
  leaf: Buffer;
  intermediates: readonly Buffer[];
}

/** One trust's memory: per leaf, bounded by leaves, least recently used out. */
export class RememberedChains {
  readonly #entries = new Map<string, Entry>();

  /** Remembers the chain OpenSSL verified (leaf first, its trust anchor last). */
  rememberVerified(verified: readonly Buffer[]): void {
    // The anchor came from the store: it is the trust, not something to carry.
    if (verified.length >= 1) this.#remember(verified[0]!, verified.slice(1, -1));
  }

  /** The intermediates `leaf` (exactly these DER bytes) was last verified with, if known. */
  recall(leaf: Buffer): readonly Buffer[] | undefined {
    const key = fingerprint(leaf);
    const entry = this.#entries.get(key);
    if (entry === undefined || !entry.leaf.equals(leaf)) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.intermediates;
  }

  get size(): number {
    return this.#entries.size;
  }

  #remember(leaf: Buffer, intermediates: readonly Buffer[]): void {
    if (intermediates.length > MAX_INTERMEDIATES) return;
    const key = fingerprint(leaf);
    // Refreshed on every verified insert: the latest full handshake's chain is the one kept.
    this.#entries.delete(key);
    this.#entries.set(key, { leaf: Buffer.from(leaf), intermediates: intermediates.map((der) => Buffer.from(der)) });
    if (this.#entries.size > MAX_LEAVES_PER_SCOPE) this.#entries.delete(this.#entries.keys().next().value!);
  }
}

/**
 * The scope a new context remembers chains in, shared by contexts built with the same CAs: a
 * client resuming with `session` usually runs on a context of its own, built from the same options.
 */
const scopes = new Map<string, RememberedChains>();

/** `ca`: the context's CA PEM as constructed (undefined: none, or node's default roots). */
export function rememberedChainsFor(ca: Buffer | undefined, defaultRoots: boolean): RememberedChains {
  const key = defaultRoots ? 'default-roots' : ca === undefined ? 'none' : fingerprint(ca);
  let scope = scopes.get(key);
  if (scope === undefined) {
    scope = new RememberedChains();
    if (scopes.size >= MAX_SCOPES) scopes.delete(scopes.keys().next().value!);
  } else scopes.delete(key);
  scopes.set(key, scope);
  return scope;
}

function fingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64');
}
