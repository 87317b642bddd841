/**
 * An attachment's memory of the chains its clients presented, for resumed sessions.
 */
import type { X509Certificate } from 'node:crypto';

/**
 * The intermediates each leaf was presented with in a chain that verified, remembered by the
 * attachment. A resumed session reports its leaf alone (the session stores the peer certificate,
 * not the chain it came with, RFC 8446 section 4.6.1, RFC 5077 section 4), so its revalidation
 * needs the chain of the handshake that established it.
 */
export interface PresentedChains {
  /** The intermediates `leaf` (exactly these DER bytes) was last verified with, if known. */
  recall(leaf: X509Certificate): readonly X509Certificate[] | undefined;
  remember(leaf: X509Certificate, intermediates: readonly X509Certificate[]): void;
}

/**
 * How many leaves' verified intermediates an attachment remembers for resumed sessions. A leaf
 * pushed out is not lost trust: its next resumption is denied, its next full handshake remembered.
 */
const MAX_REMEMBERED_CHAINS = 16_384;

/** Bounded, least recently used out; keyed by fingerprint, answered only for the exact same DER. */
export function presentedChains(): PresentedChains {
  const chains = new Map<string, { leaf: X509Certificate; intermediates: readonly X509Certificate[] }>();
  return {
    recall(leaf) {
      const key = leaf.fingerprint256;
      const entry = chains.get(key);
      if (entry === undefined || !entry.leaf.raw.equals(leaf.raw)) return undefined;
      chains.delete(key);
      chains.set(key, entry);
      return entry.intermediates;
    },
    remember(leaf, intermediates) {
      const key = leaf.fingerprint256;
      chains.delete(key);
      // A self-issued certificate is a root: trust comes from the attachment's CAs only.
      chains.set(key, { leaf, intermediates: intermediates.filter((c) => !c.checkIssued(c)) });
      if (chains.size > MAX_REMEMBERED_CHAINS) chains.delete(chains.keys().next().value!);
    },
  };
}
