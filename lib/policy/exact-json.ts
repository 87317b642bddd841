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
import { ExactWalker } from './exact-values.js';

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
  return new ExactJson(dates).value(value, '', path, 0);
}

/** The admission rules are ExactWalker's; JSON keeps fractions and null, and spells a Date as asked. */
class ExactJson extends ExactWalker<unknown> {
  readonly #dates: DateForm;

  constructor(dates: DateForm) {
    super(MAX_DEPTH, MAX_VALUES);
    this.#dates = dates;
  }

  protected join(parent: string, key: string | number): string {
    if (parent === '') return String(key);
    return typeof key === 'number' ? `${parent}[${key}]` : `${parent}.${key}`;
  }

  protected refuse(path: string, what: string): never {
    throw ctlsError(
      'ERR_CTLS_PDP_INPUT',
      `${path} is ${what}: JSON cannot carry it exactly to the decision point, so the request is refused`,
    );
  }

  protected tooMany(): string {
    return `past ${MAX_VALUES} values in one request`;
  }

  protected fraction(value: number): unknown {
    return value;
  }

  /** JSON.stringify throws on a bigint, and a JSON number past 2^53 is not exact either. */
  protected bigint(value: bigint, parent: string, key: string | number): unknown {
    return this.refuse(this.join(parent, key), `a value of type ${typeof value}`);
  }

  protected null(): unknown {
    return null;
  }

  protected date(value: Date, ms: number): unknown {
    return this.#dates === 'epoch-ms' ? ms : value.toISOString();
  }

  protected special(): unknown {
    return undefined;
  }
}
