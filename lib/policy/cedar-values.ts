/**
 * Plain JS values -> Cedar JSON values (the `CedarValueJson` of @cedar-policy/cedar-wasm), and
 * Cedar's error reports -> readable diagnostics.
 *
 * Cedar has strings, booleans, 64-bit integers (Long), sets, records, entity references and
 * extension values (decimal, ipaddr …). It has no null and no floating point, and it rejects a whole
 * request whose context holds either, so the conversion is lossy on purpose:
 * - undefined, null, functions, symbols and non-plain objects (class instances, buffers) are dropped;
 * - integers stay numbers; other finite numbers (a risk score of 0.7) become `decimal("0.7")`, which
 *   policies compare with `.lessThan(decimal("0.5"))`; decimals out of Cedar's range are dropped;
 * - bigints within the safe integer range become numbers, others are dropped;
 * - a Date becomes its epoch milliseconds (a Long);
 * - `{ __entity: … }` and `{ __extn: … }` objects pass through untouched, so a mapping can build
 *   entity references and extension values itself.
 */
import type { CedarValueJson, DetailedError } from '@cedar-policy/cedar-wasm/nodejs';

/** Nesting deeper than this is cut: it protects against cycles, and no policy needs it. */
const MAX_DEPTH = 16;
/** Cedar's decimal is an i64 scaled by 10^4. */
const MAX_DECIMAL = 922_337_203_685_477;

export function toCedarValue(value: unknown, depth = 0): CedarValueJson | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isSafeInteger(value)) return value;
      if (Number.isFinite(value) && Math.abs(value) < MAX_DECIMAL) {
        return { __extn: { fn: 'decimal', arg: trimDecimal(value.toFixed(4)) } };
      }
      return undefined;
    case 'bigint':
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
    case 'object':
      if (value === null || depth >= MAX_DEPTH) return undefined;
      if (Array.isArray(value)) return toCedarSet(value, depth);
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
      return isPlainObject(value) ? toCedarRecord(value, depth) : undefined;
    default:
      return undefined;
  }
}

/** A context record: the top level of what Cedar receives as `context`. */
export function toCedarRecord(record: object, depth = 0): Record<string, CedarValueJson> {
  if ('__entity' in record || '__extn' in record) return record as Record<string, CedarValueJson>;
  const out: Record<string, CedarValueJson> = {};
  for (const [key, v] of Object.entries(record)) {
    const converted = toCedarValue(v, depth + 1);
    if (converted !== undefined) out[key] = converted;
  }
  return out;
}

function toCedarSet(items: unknown[], depth: number): CedarValueJson[] {
  const out: CedarValueJson[] = [];
  for (const item of items) {
    const converted = toCedarValue(item, depth + 1);
    if (converted !== undefined) out.push(converted);
  }
  return out;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** '0.7000' -> '0.7', '3.0000' -> '3.0' (Cedar wants at least one fractional digit). */
function trimDecimal(fixed: string): string {
  return fixed.replace(/(\.\d*?[1-9])0+$|(\.0)0+$/, '$1$2');
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
export function diagnosticsOf(errors: DetailedError[], source: string, text?: string, policyId?: string): CedarDiagnostic[] {
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
