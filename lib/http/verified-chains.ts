/**
 * The chains REST requests saw their leaves verified with at full handshakes, for resumed sessions.
 *
 * A resumed session stores the peer's leaf and not the chain it came with (RFC 8446 section 4.6.1,
 * RFC 5077 section 4), and OpenSSL verifies nothing on resumption: node reports the leaf alone, or
 * the leaf completed from its own CA store. Without the intermediates the validity window of the
 * chain, and the serials a guard checks, would be the leaf's alone. Each chain is remembered under
 * the context that verified it at a full handshake and answered only for the exact same leaf under
 * that same context: it says what that leaf chains to under that trust, while whether the session
 * itself verified stays node's (or the owned tier's) verdict.
 */
import type { X509Certificate } from 'node:crypto';

/**
 * How many leaves' chains are remembered per trust. A leaf pushed out fails closed: its next
 * resumption is denied, and its next full handshake remembers it again.
 */
const MAX_CHAINS_PER_TRUST = 16_384;

type Chain = readonly X509Certificate[];

interface Entry {
  /** The leaf's DER, compared in full on recall. */
  leaf: Buffer;
  /** Its issuers, up to the root: parsed once and shared (see parsed-certificates.ts). */
  issuers: Chain;
}

/** Per trust (node's native SecureContext, or the owned tier's SecureContext), by leaf fingerprint. */
const byTrust = new WeakMap<object, Map<string, Entry>>();

/** Remembers `chain` (leaf first, up to its root) as verified under `trust`. */
export function rememberVerifiedChain(trust: object, chain: Chain): void {
  const leaf = chain[0];
  if (leaf === undefined) return;
  let chains = byTrust.get(trust);
  if (chains === undefined) {
    chains = new Map();
    byTrust.set(trust, chains);
  }
  const key = leaf.fingerprint256;
  chains.delete(key);
  chains.set(key, { leaf: leaf.raw, issuers: chain.slice(1) });
  if (chains.size > MAX_CHAINS_PER_TRUST) chains.delete(chains.keys().next().value!);
}

/** The chain `leaf` (exactly these DER bytes) was last verified with under `trust`, if known. */
export function recallVerifiedChain(trust: object, leaf: X509Certificate): Chain | undefined {
  const chains = byTrust.get(trust);
  const key = leaf.fingerprint256;
  const entry = chains?.get(key);
  if (entry === undefined || !entry.leaf.equals(leaf.raw)) return undefined;
  chains!.delete(key);
  chains!.set(key, entry);
  return [leaf, ...entry.issuers];
}
