/**
 * The admission rules of the two exact converters, in one place: what an external decision point
 * receives as JSON (exact-json.ts, ERR_CTLS_PDP_INPUT) and what the embedded Cedar engine receives
 * (cedar/values.ts, ERR_CTLS_CEDAR_CONTEXT). A rule added here holds for both, so the same app value
 * cannot pass one way in and be refused the other for a reason either would want.
 *
 * ExactWalker visits a value and refuses, naming its path:
 * - a string or a record key with a lone surrogate (it crosses JSON as an escape that decoders turn
 *   into U+FFFD, and Cedar's strings are UTF-8);
 * - NaN, ±Infinity, and integers beyond 2^53 (a JS number there stands for several integers);
 * - undefined, functions, symbols;
 * - nesting deeper than the caller's limit, a cycle, and more values than the caller's budget (an
 *   object shared within the value is visited once per path, which grows with the product of the
 *   fan-outs: past the budget the value is refused rather than the event loop stalled);
 * - an invalid Date;
 * - an array with a hole, with named properties (a RegExp match's `groups`, state an array's
 *   elements do not carry), or not a plain array (a subclass may answer from its prototype, and
 *   one without a prototype would pass for a record);
 * - an instance of a class (a Map, a Set, a Buffer …): only plain objects (Object or null
 *   prototype), plain arrays and Dates.
 * A record's own enumerable string keys are its state, and a key `__proto__` stays a plain key.
 *
 * What is left to each caller (a subclass) is what its output makes of a fraction, a bigint, null
 * and a valid Date, any plain object it takes as itself (Cedar's `__entity` / `__extn` escapes), how
 * it spells a path and how it throws. Paths are built only for records, arrays and refusals: a
 * scalar, the common case, is checked from its parent's path and its key.
 *
 * So the two differ on purpose only here (test/exact-values-differential.test.ts holds them to it):
 * - null and fractions pass as JSON; Cedar has neither (`fractions: 'decimal'` makes exact decimals);
 * - a bigint within 2^53 is a Cedar Long, and refused as JSON (JSON.stringify throws on one);
 * - `{ __entity: … }`, `{ __extn: … }` and `{ __expr: … }` are Cedar's escapes, plain records as JSON;
 * - the limits: JSON nests 64 deep and holds 100,000 values, Cedar 16 and `maxValues` (10,000).
 */
import { setOwn } from '../common/own.js';

/**
 * String#isWellFormed (Node 20 has it; the ES2022 typings do not). A module-local constant, as is
 * `own` below: the CommonJS output would load an exported or imported name from its module object
 * at each use, on the path of every value.
 */
const wellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;
const own = setOwn;
const hasOwn = Object.prototype.hasOwnProperty;

/** Whether `text` is well-formed UTF-16: no lone surrogate. */
export function isWellFormed(text: string): boolean {
  return wellFormed.call(text);
}

export abstract class ExactWalker<Out> {
  /** Values still allowed in this conversion. */
  #valuesLeft: number;
  /** The records and arrays being visited, outermost first (at most maxDepth): a repeat is a cycle. */
  readonly #open: object[] = [];

  constructor(
    readonly maxDepth: number,
    readonly maxValues: number,
  ) {
    this.#valuesLeft = maxValues;
  }

  /** The path of `key` under `parent` as the caller spells it; `parent` '' is the top (`key` alone). */
  protected abstract join(parent: string, key: string | number): string;
  /** Throws the caller's error for the value at `path`, which is `what`. */
  protected abstract refuse(path: string, what: string): never;
  /** The caller's words for a value past the budget, e.g. `more than 10000 values in one record`. */
  protected abstract tooMany(): string;
  /** A finite number that is not an integer. */
  protected abstract fraction(value: number, parent: string, key: string | number): Out;
  protected abstract bigint(value: bigint, parent: string, key: string | number): Out;
  protected abstract null(parent: string, key: string | number): Out;
  /** A valid Date, whose time is `ms`. */
  protected abstract date(value: Date, ms: number): Out;
  /** A plain object the caller converts itself, or undefined to visit it as a record. */
  protected abstract special(value: object, path: string): Out | undefined;

  /** `value`, found under `key` of the value at `parent`; counts against the budget. */
  value(value: unknown, parent: string, key: string | number, depth: number): Out {
    if (--this.#valuesLeft < 0) this.refuse(this.join(parent, key), this.tooMany());
    switch (typeof value) {
      case 'string':
        if (!wellFormed.call(value))
          this.refuse(this.join(parent, key), 'a string with a lone surrogate (not valid UTF-8)');
        return value as Out;
      case 'boolean':
        return value as Out;
      case 'number':
        // -0 is 0: JSON writes it so, and Cedar's integers have no -0.
        if (Number.isSafeInteger(value)) return (value === 0 ? 0 : value) as Out;
        if (!Number.isFinite(value)) return this.refuse(this.join(parent, key), `${value}`);
        if (Number.isInteger(value))
          this.refuse(this.join(parent, key), `the integer ${value}, beyond 2^53 where JS numbers are not exact`);
        return this.fraction(value, parent, key);
      case 'bigint':
        return this.bigint(value, parent, key);
      case 'object':
        return value === null ? this.null(parent, key) : this.object(value, this.join(parent, key), depth);
      case 'undefined':
        return this.refuse(this.join(parent, key), 'undefined (leave the attribute out)');
      default:
        return this.refuse(this.join(parent, key), `a value of type ${typeof value}`);
    }
  }

  /** An object at `path`, `depth` levels down; not counted against the budget (value() counts it). */
  object(value: object, path: string, depth: number): Out {
    if (depth >= this.maxDepth) this.refuse(path, `nesting deeper than ${this.maxDepth}`);
    if (this.#open.includes(value)) this.refuse(path, 'a cycle');
    if (value instanceof Date) {
      const ms = value.getTime();
      return Number.isNaN(ms) ? this.refuse(path, 'an invalid Date') : this.date(value, ms);
    }
    const prototype = Object.getPrototypeOf(value) as unknown;
    const isArray = prototype === Array.prototype;
    if (isArray) {
      if (Object.keys(value).length > (value as unknown[]).length) this.refuse(path, 'an array with named properties');
    } else if (prototype !== Object.prototype && prototype !== null) {
      this.refuse(path, `an instance of ${nameOf(value)} (only plain objects, arrays and Dates)`);
    } else if (Array.isArray(value)) {
      // An array whose prototype was set to null would pass for a record of its indices, and a
      // policy's set operations (Cedar's `contains`) would then err on it and skip a forbid.
      this.refuse(path, 'an array without the Array prototype');
    } else {
      const special = this.special(value, path);
      if (special !== undefined) return special;
    }
    this.#open.push(value);
    try {
      if (!isArray) return this.record(value, path, depth) as Out;
      const items = value as unknown[];
      const out: Out[] = [];
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        // An own-property test of every index, not `item === undefined` and `in`: an index set on
        // Array.prototype would read through the hole and pass both.
        if (!hasOwn.call(items, i)) this.refuse(this.join(path, i), 'a hole in an array');
        out.push(this.value(item, path, i, depth + 1));
      }
      return out as Out;
    } finally {
      this.#open.pop();
    }
  }

  /** A plain object as the top of the conversion: the caller has checked that it is one. */
  top(value: object, path: string): Record<string, Out> {
    this.#open.push(value);
    return this.record(value, path, 0);
  }

  /** A plain object's own enumerable string keys. */
  record(value: object, path: string, depth: number): Record<string, Out> {
    const out: Record<string, Out> = {};
    for (const key of Object.keys(value)) {
      if (!wellFormed.call(key)) this.refuse(this.join(path, key), 'a key with a lone surrogate (not valid UTF-8)');
      own(out, key, this.value((value as Record<string, unknown>)[key], path, key, depth + 1));
    }
    return out;
  }
}

function nameOf(value: object): string {
  const name = (value.constructor as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && name !== '' ? name : 'a class';
}
