/** Normalizes the PEM-ish option values node:tls accepts (string | Buffer | arrays). */
import { X509Certificate } from 'node:crypto';
import { ctlsError, invalidOption } from '../common/errors.js';

export type PemInput = string | Buffer | ReadonlyArray<string | Buffer>;

/** Concatenates one or many PEM blocks into one Buffer, or undefined when absent. */
export function pemBuffer(name: string, value: unknown): Buffer | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return Buffer.from(value);
  if (Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    const parts = value.map((item, index) => {
      const part = pemBuffer(`${name}[${index}]`, item);
      if (part === undefined) throw invalidOption(`${name}[${index}]`, 'a PEM string or Buffer', item);
      return part;
    });
    return Buffer.concat(parts.flatMap((part) => [part, Buffer.from('\n')]));
  }
  throw invalidOption(name, 'a PEM string, a Buffer or an array of them', value);
}

/** The text of a PEM input, for keeping copies (setCa/setCrl return what is in force). */
export function pemText(buffer: Buffer | undefined): string | undefined {
  return buffer === undefined ? undefined : buffer.toString('latin1');
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * Every certificate in a PEM input, parsed. Throws ERR_CTLS_BAD_PEM naming the option when a
 * block does not parse or the input holds no certificate at all: an empty or mistyped bundle
 * must not pass silently for one that completes nothing.
 */
export function certificatesFromPem(name: string, value: unknown): X509Certificate[] {
  const buffer = pemBuffer(name, value);
  if (buffer === undefined) return [];
  const blocks = buffer.toString('latin1').match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) throw ctlsError('ERR_CTLS_BAD_PEM', `no PEM certificate found in option "${name}"`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw ctlsError(
        'ERR_CTLS_BAD_PEM',
        `certificate ${index + 1} of option "${name}" does not parse: ${(error as Error).message}`,
        { cause: error },
      );
    }
  });
}
