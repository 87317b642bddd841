/**
 * Option checks, one per kind of value, shared by every layer so that a bad
 * option reads the same wherever it is passed: ERR_CTLS_INVALID_OPTION, the
 * option's full name ('reauthorize.every') and what it must be.
 *
 * Each check returns the value (or the fallback when the option is absent),
 * so a caller validates and defaults in one expression.
 */
import { invalidOption } from './errors.js';

/** An options object (absent means empty). */
export function checkObject<T extends object>(name: string, value: T | undefined | null): T | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw invalidOption(name, 'an object', value);
  return value;
}

export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean;
export function checkBoolean(name: string, value: unknown): boolean | undefined;
export function checkBoolean(name: string, value: unknown, fallback?: boolean): boolean | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'a boolean', value);
  return value;
}

export function checkString(name: string, value: unknown, options: { nonEmpty?: boolean } = {}): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || (options.nonEmpty === true && value.length === 0)) {
    throw invalidOption(name, options.nonEmpty === true ? 'a non-empty string' : 'a string', value);
  }
  return value;
}

export function checkFunction<T extends (...args: never[]) => unknown>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidOption(name, 'a function', value);
  return value as T;
}

/** One of a fixed set of strings. */
export function checkOneOf<T extends string>(name: string, value: unknown, choices: readonly T[], fallback: T): T;
export function checkOneOf<T extends string>(name: string, value: unknown, choices: readonly T[]): T | undefined;
export function checkOneOf<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
  fallback?: T,
): T | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw invalidOption(name, choices.map((choice) => `'${choice}'`).join(' or '), value);
  }
  return value as T;
}

export interface DurationRules {
  /** Whether 0 is accepted (it usually means "off"). Default false. */
  zero?: boolean;
  /** Whether Infinity is accepted (no limit). Default false. */
  infinite?: boolean;
}

/** A duration in milliseconds: finite, not negative; 0 and Infinity only where the rules say. */
export function checkDuration(name: string, value: unknown, fallback: number, rules?: DurationRules): number;
export function checkDuration(
  name: string,
  value: unknown,
  fallback?: undefined,
  rules?: DurationRules,
): number | undefined;
export function checkDuration(
  name: string,
  value: unknown,
  fallback?: number,
  rules: DurationRules = {},
): number | undefined {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (value === Infinity
      ? rules.infinite === true
      : Number.isFinite(value) && (value > 0 || (value === 0 && rules.zero === true)));
  if (!ok) {
    const floor = rules.zero === true ? 'a non-negative number of ms' : 'a positive number of ms';
    throw invalidOption(name, rules.infinite === true ? `${floor} or Infinity` : floor, value);
  }
  return value;
}

export interface CountRules {
  /** The smallest accepted value. Default 1. */
  min?: number;
  /** Whether Infinity is accepted (no limit). Default false. */
  infinite?: boolean;
}

/** A whole number (a count, a size in bytes), at least `min`. */
export function checkCount(name: string, value: unknown, fallback: number, rules?: CountRules): number;
export function checkCount(name: string, value: unknown, fallback?: undefined, rules?: CountRules): number | undefined;
export function checkCount(
  name: string,
  value: unknown,
  fallback?: number,
  rules: CountRules = {},
): number | undefined {
  if (value === undefined) return fallback;
  const min = rules.min ?? 1;
  const ok =
    typeof value === 'number' &&
    ((Number.isSafeInteger(value) && value >= min) || (value === Infinity && rules.infinite === true));
  if (!ok) {
    const floor = min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer >= ${min}`;
    throw invalidOption(name, rules.infinite === true ? `${floor} or Infinity` : floor, value);
  }
  return value;
}
