/**
 * Certificates the library parsed and gives out, made non-extensible as they are made.
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

/** Makes `certificate`, just made by the library, non-extensible, and remembers it. */
export function sealCertificate(certificate: X509Certificate): X509Certificate {
  Object.preventExtensions(certificate);
  sealed.add(certificate);
  return certificate;
}

/** Whether the library made and sealed `certificate` (a plain X509Certificate, no own property added). */
export function isSealedCertificate(certificate: unknown): boolean {
  return typeof certificate === 'object' && certificate !== null && sealed.has(certificate as X509Certificate);
}
