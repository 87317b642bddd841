/**
 * Plain JS values -> Cedar JSON values (the `CedarValueJson` of @cedar-policy/cedar-wasm), and
 * Cedar's error reports -> readable diagnostics.
 *
 * Cedar has strings, booleans, 64-bit integers (Long), sets, records, entity references and
 * extension values (decimal, ipaddr …), and no null and no floating point. A Cedar policy that
 * errors is skipped, and a skipped `forbid` allows: so a value Cedar cannot hold exactly is never
 * dropped, rounded or retyped on the way in, the whole request is refused with
 * ERR_CTLS_CEDAR_CONTEXT naming the value's path (`context.amount`), which is a denial:
 * - strings (well-formed UTF-16, as Cedar's are UTF-8), booleans and safe integers pass;
 * - null, undefined, NaN, ±Infinity, integers beyond 2^53 (a JS number there may already be a
 *   rounded copy of what the sender meant), bigints beyond 2^53, functions, symbols, class
 *   instances, cycles and values nested deeper than MAX_DEPTH are refused;
 * - a fraction is refused by default: turned into a decimal, a number's Cedar type would depend on
 *   its value, and `forbid … when { context.amount > 1000000 }` would error (and allow) on 2000000.5.
 *   Build decimals explicitly with cedarDecimal(), or opt in with `fractions: 'decimal'` (exact
 *   decimals of 1 to 4 fractional digits only);
 * - a Date becomes its epoch milliseconds (a Long);
 * - `{ __entity: { type, id } }` and `{ __extn: { fn, arg } }`, exactly in that shape, pass through,
 *   so a mapping can build entity references and extension values itself.
 * The rules Cedar shares with the JSON for external decision points (../exact-json.ts) are
 * ExactWalker's, in ../exact-values.ts; the Converter here adds Cedar's own part.
 */
import type { CedarValueJson, DetailedError } from '@cedar-policy/cedar-wasm/nodejs';
import { ContinuousTlsError, ctlsError } from '../../common/errors.js';
import { ExactWalker, isWellFormed } from '../exact-values.js';
import { parseDecimal } from './extensions.js';

/** Deeper nesting is refused: no policy needs it, and it bounds the work on a hostile value. */
export const MAX_DEPTH = 16;
/** Values (scalars, sets, records) per converted record; more is refused. */
export const MAX_VALUES = 10_000;

/** How a JS number with a fractional part is converted: refused (default), or an exact decimal. */
export type FractionMode = 'deny' | 'decimal';

export interface ConversionOptions {
  fractions?: FractionMode;
  maxValues?: number;
}

export type CedarContextError = ContinuousTlsError & { path: string };

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/**
 * Held here, not looked up on JSON at each use: optimized code loading a property of JSON is
 * invalidated when JSON changes.
 */
const quote = JSON.stringify;

/** `context.a`, `context["a b"]`, `context.list[3]`: built only for records and sets, and for errors. */
function join(parent: string, key: string | number): string {
  if (parent === '') return String(key);
  if (typeof key === 'number') return `${parent}[${key}]`;
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${quote(key)}]`;
}

/**
 * One conversion. The admission rules are ExactWalker's (shared with the JSON for decision points);
 * Cedar's own part: no null, fractions by `fractions`, bigints within 2^53 as Longs, a Date as its
 * epoch milliseconds, and the `__entity` / `__extn` escapes.
 */
class Converter extends ExactWalker<CedarValueJson> {
  constructor(
    readonly fractions: FractionMode,
    maxValues: number,
  ) {
    super(MAX_DEPTH, maxValues);
  }

  protected join(parent: string, key: string | number): string {
    return join(parent, key);
  }

  protected refuse(path: string, what: string): never {
    return refuse(path, what);
  }

  protected tooMany(): string {
    return `more than ${this.maxValues} values in one record`;
  }

  protected fraction(value: number, parent: string, key: string | number): CedarValueJson {
    if (this.fractions === 'deny')
      return refuse(
        join(parent, key),
        `the fraction ${value} (Cedar numbers are integers; build a decimal with cedarDecimal())`,
      );
    const arg = exactDecimal(value);
    return arg === undefined
      ? refuse(join(parent, key), `${value}, not a Cedar decimal (at most 4 fractional digits, |x| < 9.2e14)`)
      : { __extn: { fn: 'decimal', arg } };
  }

  protected bigint(value: bigint, parent: string, key: string | number): CedarValueJson {
    if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
    return refuse(join(parent, key), 'a bigint beyond 2^53, which cannot cross into Cedar exactly');
  }

  protected null(parent: string, key: string | number): CedarValueJson {
    return refuse(join(parent, key), 'null (Cedar has no null: leave the attribute out)');
  }

  protected date(_value: Date, ms: number): CedarValueJson {
    return ms;
  }

  protected special(value: object, path: string): CedarValueJson | undefined {
    return '__entity' in value || '__extn' in value || '__expr' in value ? escape(value, path) : undefined;
  }
}

/** `{ __entity: { type, id } }` or `{ __extn: { fn, arg } }`, exactly; anything else is refused. */
function escape(value: object, path: string): CedarValueJson {
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const inner = (value as Record<string, unknown>)[keys[0]!];
    if (keys[0] === '__entity') {
      const pair = stringPair(inner, 'type', 'id');
      if (pair !== undefined) return { __entity: { type: pair[0], id: pair[1] } };
    } else if (keys[0] === '__extn') {
      const pair = stringPair(inner, 'fn', 'arg');
      if (pair !== undefined) return { __extn: { fn: pair[0], arg: pair[1] } };
    }
  }
  return refuse(path, 'a Cedar JSON escape not of the form { __entity: { type, id } } or { __extn: { fn, arg } }');
}

/**
 * The two well-formed strings of an object that holds exactly `a` and `b`, each read once: a getter
 * read again could answer something the check never saw.
 */
function stringPair(o: unknown, a: string, b: string): [string, string] | undefined {
  if (o === null || typeof o !== 'object' || Object.keys(o).length !== 2) return undefined;
  const first = (o as Record<string, unknown>)[a];
  const second = (o as Record<string, unknown>)[b];
  return typeof first === 'string' && typeof second === 'string' && isWellFormed(first) && isWellFormed(second)
    ? [first, second]
    : undefined;
}

function refuse(path: string, what: string): never {
  throw Object.assign(
    ctlsError('ERR_CTLS_CEDAR_CONTEXT', `${path} is ${what}: Cedar cannot hold it exactly, so the request is refused`),
    { path },
  );
}

/**
 * The shortest decimal text that reads back as `value` (ECMAScript Number::toString), when it is a
 * Cedar decimal: no exponent, 1 to 4 fractional digits, within Cedar's i64 range.
 */
function exactDecimal(value: number): string | undefined {
  const text = String(value);
  return /^-?[0-9]+\.[0-9]{1,4}$/.test(text) && parseDecimal(text) !== undefined ? text : undefined;
}

/**
 * A Cedar decimal value for a context: `cedarDecimal(0.7)` is `{ __extn: { fn: 'decimal', arg: '0.7' } }`,
 * `cedarDecimal(1)` is decimal("1.0"). Its Cedar type does not depend on the number, unlike a bare
 * number with `fractions: 'decimal'`. Throws ERR_CTLS_CEDAR_CONTEXT when the number has more than
 * four fractional digits or is out of Cedar's range.
 */
export function cedarDecimal(value: number): CedarValueJson {
  const text = Number.isSafeInteger(value)
    ? `${value === 0 ? 0 : value}.0`
    : typeof value === 'number'
      ? exactDecimal(value)
      : undefined;
  if (text === undefined || parseDecimal(text) === undefined)
    refuse('decimal', `${String(value)}, not a Cedar decimal (at most 4 fractional digits, |x| < 9.2e14)`);
  return { __extn: { fn: 'decimal', arg: text } };
}

/** One value; throws ERR_CTLS_CEDAR_CONTEXT (with `path`) when Cedar cannot hold it exactly. */
export function toCedarValue(value: unknown, options: ConversionOptions = {}, path = 'value'): CedarValueJson {
  const converter = new Converter(options.fractions ?? 'deny', options.maxValues ?? MAX_VALUES);
  return typeof value === 'object' && value !== null
    ? converter.object(value, path, 0)
    : converter.value(value, '', path, 0);
}

/** A context record: the top level of what Cedar receives as `context`. Throws like toCedarValue. */
export function toCedarRecord(
  record: unknown,
  options: ConversionOptions = {},
  path = 'context',
): Record<string, CedarValueJson> {
  if (record === null || typeof record !== 'object' || Array.isArray(record) || !isPlainObject(record))
    refuse(path, 'not a plain object (a Cedar context is a record)');
  if ('__entity' in record || '__extn' in record || '__expr' in record)
    refuse(path, 'a Cedar JSON escape, not a record');
  return new Converter(options.fractions ?? 'deny', options.maxValues ?? MAX_VALUES).top(record, path);
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export interface CedarDiagnostic {
  /** The file (or 'policies', 'schema', 'entities') the problem is in. */
  source: string;
  /** The policy the problem is in, when Cedar says. */
  policyId?: string;
  message: string;
  help?: string;
  /** 1-based position in `source` when Cedar gives an offset into it. */
  line?: number;
  column?: number;
}

/**
 * Flattens Cedar's errors. `text` is the text Cedar parsed when its offsets refer to `source`
 * (policy text, schema text); pass undefined when they do not.
 */
export function diagnosticsOf(
  errors: DetailedError[],
  source: string,
  text?: string,
  policyId?: string,
): CedarDiagnostic[] {
  return errors.map((e) => {
    const d: CedarDiagnostic = { source, message: e.message };
    if (policyId !== undefined) d.policyId = policyId;
    const label = e.sourceLocations?.find((l) => l.label)?.label;
    if (e.help) d.help = e.help;
    else if (label) d.help = label;
    const at = e.sourceLocations?.[0]?.start;
    if (text !== undefined && at !== undefined) Object.assign(d, position(text, at));
    return d;
  });
}

export function formatDiagnostic(d: CedarDiagnostic): string {
  const where = d.line === undefined ? d.source : `${d.source}:${d.line}:${d.column}`;
  const policy = d.policyId === undefined ? '' : ` (policy ${d.policyId})`;
  return `${where}${policy}: ${d.message}${d.help ? ` — ${d.help}` : ''}`;
}

function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** ERR_CTLS_CEDAR with the diagnostics that say which source, line and policy failed. */
export type CedarError = ContinuousTlsError & { diagnostics: CedarDiagnostic[] };

export function cedarError(message: string, diagnostics: CedarDiagnostic[], cause?: unknown): CedarError {
  const detail =
    diagnostics.length > 0 && !message.includes(': ') ? `: ${diagnostics.map(formatDiagnostic).join('; ')}` : '';
  return Object.assign(ctlsError('ERR_CTLS_CEDAR', message + detail, { cause }), { diagnostics });
}
