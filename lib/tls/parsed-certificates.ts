/**
 * Parsed peer certificates by their exact DER bytes, shared by both tiers and the REST middleware.
 *
 * OpenSSL spends most of a parse decoding the public key, and the same certificates come back all
 * the time: every connection of a client, every fresh re-authentication, the intermediate of every
 * chain. A certificate's DER never changes, and each object is sealed as it is made (no property
 * can be added to it: sealed-certificates.ts), so sharing one per DER is safe; the key is the whole
 * DER, so two certificates never share an entry. Bounded, oldest out.
 */
import { X509Certificate } from 'node:crypto';
import { sealCertificate } from '../common/sealed-certificates.js';

const MAX_PARSED_CERTIFICATES = 1024;
const parsedCertificates = new Map<string, X509Certificate>();

export function parsedCertificate(der: Buffer): X509Certificate {
  const key = der.toString('latin1');
  let certificate = parsedCertificates.get(key);
  if (certificate === undefined) {
    certificate = sealCertificate(new X509Certificate(der));
    if (parsedCertificates.size >= MAX_PARSED_CERTIFICATES) {
      const oldest = parsedCertificates.keys().next().value;
      if (oldest !== undefined) parsedCertificates.delete(oldest);
    }
    parsedCertificates.set(key, certificate);
  }
  return certificate;
}
