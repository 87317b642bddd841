/**
 * Certificates the library parsed and gives out, sealed as they are made.
 *
 * One X509Certificate object stands for a DER across every connection that presents it
 * (parsed-certificates.ts), so a property an app or a policy stamped on one would show on all of
 * them, and a decision cache keyed on the certificate could not see it. Node's X509Certificate
 * holds no own property but its internal state, so an object sealed right after it is made can
 * never hold anything else. The decision cache's key then trusts such an object as bare at the
 * cost of a WeakSet lookup instead of listing its own keys on every hit.
 */
import type { X509Certificate } from 'node:crypto';

const sealed = new WeakSet<X509Certificate>();

/**
 * Seals `certificate`, just made by the library, and remembers it. Sealed, not only made
 * non-extensible: node's own state properties (Node 20 and 22) can then not be redefined as
 * getters or deleted either.
 */
export function sealCertificate(certificate: X509Certificate): X509Certificate {
  Object.seal(certificate);
  sealed.add(certificate);
  return certificate;
}

/** Whether the library made and sealed `certificate` (a plain X509Certificate, no own property added). */
export function isSealedCertificate(certificate: unknown): boolean {
  return typeof certificate === 'object' && certificate !== null && sealed.has(certificate as X509Certificate);
}
