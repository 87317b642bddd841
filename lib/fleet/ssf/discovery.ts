/**
 * Transmitter discovery (SSF 1.0): the metadata at `/.well-known/ssf-configuration`, placed
 * before the issuer's path as in RFC 8414 §3.1. The document's `issuer` must be the issuer asked for,
 * so a document served elsewhere cannot redirect the receiver to other keys.
 */
import { isObject, requestTransmitter, transmitterError } from './fetch-json.js';

/** SSF 1.0 transmitter metadata (the members this receiver reads; the rest is kept as sent). */
export interface TransmitterMetadata extends Record<string, unknown> {
  issuer: string;
  jwks_uri?: string;
  /** Delivery method URIs: `urn:ietf:rfc:8935` (push), `urn:ietf:rfc:8936` (poll). */
  delivery_methods_supported?: string[];
  configuration_endpoint?: string;
  status_endpoint?: string;
  verification_endpoint?: string;
  spec_version?: string;
}

export const PUSH_DELIVERY = 'urn:ietf:rfc:8935';
export const POLL_DELIVERY = 'urn:ietf:rfc:8936';

const URL_MEMBERS = ['jwks_uri', 'configuration_endpoint', 'status_endpoint', 'verification_endpoint'] as const;

export function wellKnownUrl(issuer: string): URL {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return new URL(`/.well-known/ssf-configuration${path}`, url.origin);
}

export async function discoverTransmitter(
  issuer: string,
  options: { authorization?: string | undefined; timeout?: number } = {},
): Promise<TransmitterMetadata> {
  if (!URL.canParse(issuer)) throw transmitterError(`discovery: the issuer ${JSON.stringify(issuer)} is not a URL`);
  const { status, body } = await requestTransmitter('discovery', wellKnownUrl(issuer), {
    authorization: options.authorization,
    timeout: options.timeout ?? 10_000,
    maxBytes: 256 * 1024,
  });
  if (status !== 200) throw transmitterError(`discovery: the transmitter answered ${status}`);
  if (!isObject(body)) throw transmitterError('discovery: the configuration is not a JSON object');
  if (body['issuer'] !== issuer) throw transmitterError('discovery: the configuration names another issuer');
  for (const name of URL_MEMBERS) {
    const value = body[name];
    if (value !== undefined && (typeof value !== 'string' || !URL.canParse(value)))
      throw transmitterError(`discovery: ${name} is not a URL`);
  }
  const methods = body['delivery_methods_supported'];
  if (methods !== undefined && (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string')))
    throw transmitterError('discovery: delivery_methods_supported is not an array of strings');
  return body as TransmitterMetadata;
}
