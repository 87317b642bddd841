/**
 * The subject attributes a development certificate may carry beside its common name (O=, OU=, C= …),
 * checked before they reach the encoder: only attribute types a policy can name, in the character
 * set of an ASN.1 PrintableString (X.680 41.4), within the upper bounds of RFC 5280 Appendix A.
 * PrintableString has no control characters, quotes or '#', so a value can neither add a line to
 * crypto.X509Certificate#subject nor be read by @peculiar/x509 as hex or a quoted string.
 */
import { invalidOption } from '../common/errors.js';
import { checkObject } from '../common/validate.js';

/** Attribute types, each a string or (for repeatable ones) an array of strings. */
export interface SubjectFields {
  /** Country: two capital letters (ISO 3166-1 alpha-2). */
  C?: string;
  /** State or province. */
  ST?: string;
  /** Locality. */
  L?: string;
  /** Organization. */
  O?: string | string[];
  /** Organizational unit. */
  OU?: string | string[];
  /** Domain component (RFC 4519), most significant first: ['com', 'example'] reads DC=com, DC=example. */
  DC?: string | string[];
}

type FieldName = keyof SubjectFields;

/**
 * RDNs as @peculiar/x509's Name takes them (its JsonNameParams), declared here so that the
 * published declarations do not need its types, which need the DOM library.
 */
export type NameParams = Array<
  Record<string, Array<{ printableString: string } | { utf8String: string } | { ia5String: string }>>
>;

/** Upper bounds (RFC 5280 Appendix A: ub-state-name, ub-organization-name …; DC: a DNS label). */
const MAX_LENGTH: Record<FieldName, number> = { C: 2, ST: 128, L: 128, O: 64, OU: 64, DC: 63 };
/** In the conventional order of a DN, most significant first; CN comes last. */
const ORDER: readonly FieldName[] = ['DC', 'C', 'ST', 'L', 'O', 'OU'];
const REPEATABLE = new Set<FieldName>(['O', 'OU', 'DC']);
const MAX_VALUES = 8;
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]+$/;

/** The RDNs of a certificate subject: the checked `fields`, then CN = commonName. */
export function subjectName(commonName: string, fields: SubjectFields | undefined): NameParams {
  const given = checkObject('subject', fields) ?? {};
  for (const key of Object.keys(given)) {
    if (!(ORDER as readonly string[]).includes(key)) {
      const hint = key === 'CN' ? ' (the common name is the commonName option)' : '';
      throw invalidOption(`subject.${key}`, `one of the attribute types ${ORDER.join(', ')}${hint}`, key);
    }
  }
  const rdns: NameParams = [];
  for (const type of ORDER) {
    for (const value of valuesOf(type, given[type])) {
      // DC is an IA5String (RFC 4519); the others are PrintableStrings, as checked.
      rdns.push({ [type]: [type === 'DC' ? { ia5String: value } : { printableString: value }] });
    }
  }
  // As objects, values are encoded as given: a string value starting with '#' or quoted would be
  // read as hex or unquoted first.
  rdns.push({ CN: [PRINTABLE.test(commonName) ? { printableString: commonName } : { utf8String: commonName }] });
  return rdns;
}

function valuesOf(type: FieldName, value: unknown): string[] {
  if (value === undefined) return [];
  const name = `subject.${type}`;
  const many = Array.isArray(value) && REPEATABLE.has(type);
  const list = many ? (value as unknown[]) : [value];
  if (list.length === 0 || list.length > MAX_VALUES) throw invalidOption(name, `1 to ${MAX_VALUES} values`, value);
  list.forEach((item, index) => checkValue(many ? `${name}[${index}]` : name, type, item));
  return list as string[];
}

function checkValue(name: string, type: FieldName, value: unknown): void {
  if (type === 'C') {
    if (typeof value !== 'string' || !/^[A-Z]{2}$/.test(value))
      throw invalidOption(name, 'a two-letter country code in capitals (ISO 3166-1)', value);
    return;
  }
  const max = MAX_LENGTH[type];
  if (typeof value !== 'string' || value.length > max || !PRINTABLE.test(value)) {
    throw invalidOption(
      name,
      `1 to ${max} printable characters (letters, digits, space and ' ( ) + , - . / : = ?)` +
        (REPEATABLE.has(type) ? ', or an array of such strings' : ''),
      value,
    );
  }
}
