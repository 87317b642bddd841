/** Normalizes the PEM-ish option values node:tls accepts (string | Buffer | arrays). */
import { invalidOption } from './errors.js';

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
