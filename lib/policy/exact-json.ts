/**
 * What an external decision point (AuthZEN, OPA) receives: the input as JSON, made exactly or not
 * at all. `JSON.stringify` drops an attribute whose value is undefined, turns NaN and Infinity into
 * null, a Map or a Set into `{}`, and skips functions. A rule such as `forbid … when
 * { context.risk > 50 }` or `deny { input.context.risk > 50 }` then meets an absent or retyped
 * attribute, does not apply, and the request is allowed where the app's own value would have
 * denied it. Here each such value refuses the request instead (ERR_CTLS_PDP_INPUT, fail closed), as
 * the embedded Cedar engine refuses it (ERR_CTLS_CEDAR_CONTEXT).
 *
 * What passes: well-formed strings, finite numbers (integers within 2^53), booleans, null, arrays
 * without holes, plain objects (own enumerable string keys; `__proto__` stays a plain key), and
 * Dates: as epoch milliseconds (what the embedded Cedar engine makes of one, so the
 * `continuous-tls pdp` endpoint sees the same Long) or as ISO 8601 text (JSON's own form, which
 * Rego's time functions parse).
 */
import { ctlsError } from '../common/errors.js';

/** String#isWellFormed (Node 20 has it; the ES2022 typings do not). */
const wellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

export type DateForm = 'epoch-ms' | 'iso';

/** Deeper nesting is refused: no policy needs it, and it bounds the walk of a hostile value. */
const MAX_DEPTH = 64;

/**
 * Values one request may hold. Objects shared within the input (a role graph referenced from
 * several places) are copied once per path, which grows with the product of the fan-outs: past
 * this budget the request is refused rather than the event loop stalled.
 */
const MAX_VALUES = 100_000;

/** A JSON-exact copy of `value`; throws ERR_CTLS_PDP_INPUT naming the first value that is not. */
export function exactJson(value: unknown, path: string, dates: DateForm): unknown {
  return new ExactJson(dates).copy(value, path, 0);
}

class ExactJson {
  readonly #dates: DateForm;
  /** The objects being copied, outermost first: a cycle is refused. */
  readonly #open: object[] = [];
  #valuesLeft = MAX_VALUES;

  constructor(dates: DateForm) {
    this.#dates = dates;
  }

  copy(value: unknown, path: string, depth: number): unknown {
    if (--this.#valuesLeft < 0) refuse(path, `past ${MAX_VALUES} values in one request`);
    switch (typeof value) {
      case 'string':
        // A lone surrogate crosses JSON as an escape that decoders turn into U+FFFD.
        return wellFormed.call(value) ? value : refuse(path, 'a string with a lone surrogate (not valid UTF-8)');
      case 'boolean':
        return value;
      case 'number':
        if (!Number.isFinite(value)) return refuse(path, String(value));
        // Beyond 2^53 a number stands for several integers: the decision point would judge another.
        return Number.isInteger(value) && !Number.isSafeInteger(value)
          ? refuse(path, `the integer ${value}, beyond 2^53 where JS numbers are not exact`)
          : value;
      case 'undefined':
        return refuse(path, 'undefined (leave the attribute out)');
      case 'object':
        return value === null ? null : this.#object(value, path, depth);
      default:
        return refuse(path, `a value of type ${typeof value}`);
    }
  }

  #object(value: object, path: string, depth: number): unknown {
    if (depth >= MAX_DEPTH) refuse(path, `nesting deeper than ${MAX_DEPTH}`);
    if (this.#open.includes(value)) refuse(path, 'a cycle');
    if (value instanceof Date) {
      const ms = value.getTime();
      if (Number.isNaN(ms)) refuse(path, 'an invalid Date');
      return this.#dates === 'epoch-ms' ? ms : value.toISOString();
    }
    this.#open.push(value);
    try {
      const prototype = Object.getPrototypeOf(value) as unknown;
      if (prototype === Array.prototype) return this.#array(value as unknown[], path, depth);
      if (prototype !== Object.prototype && prototype !== null)
        refuse(path, `an instance of ${nameOf(value)} (only plain objects, arrays and Dates)`);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (!wellFormed.call(key)) refuse(`${path}.${key}`, 'a key with a lone surrogate (not valid UTF-8)');
        const copied = this.copy((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
        if (key === '__proto__')
          Object.defineProperty(out, key, { value: copied, enumerable: true, writable: true, configurable: true });
        else out[key] = copied;
      }
      return out;
    } finally {
      this.#open.pop();
    }
  }

  #array(value: unknown[], path: string, depth: number): unknown[] {
    // JSON carries the elements alone: a named property (a RegExp match's `groups`) would be lost.
    if (Object.keys(value).length > value.length) refuse(path, 'an array with named properties');
    const out: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) refuse(`${path}[${i}]`, 'a hole in an array');
      out[i] = this.copy(value[i], `${path}[${i}]`, depth + 1);
    }
    return out;
  }
}

function nameOf(value: object): string {
  const name = (value.constructor as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && name !== '' ? name : 'a class';
}

function refuse(path: string, what: string): never {
  throw ctlsError(
    'ERR_CTLS_PDP_INPUT',
    `${path} is ${what}: JSON cannot carry it exactly to the decision point, so the request is refused`,
  );
}
