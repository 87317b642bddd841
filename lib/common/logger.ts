/**
 * The optional `logger` option of createServer(), attach() and authorizeRequest(): any pino-compatible
 * logger (`info(obj, msg)`, `warn`, `error`, `debug`, optionally `child` and `isLevelEnabled`).
 * Logging never changes a decision: a logger that throws is ignored.
 */
import { codeOfThrown, describeThrown, invalidOption } from './errors.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogMethod = (obj: Record<string, unknown>, msg?: string) => void;

export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  /** When present, the library logs through `child({ component: 'continuous-tls' })`. */
  child?: (bindings: Record<string, unknown>) => Logger;
  /** When present, entries of a disabled level are not even built (pino has it). */
  isLevelEnabled?: (level: string) => boolean;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function isLogger(value: unknown): value is Logger {
  const logger = value as Partial<Logger> | null;
  return (
    logger !== null &&
    typeof logger === 'object' &&
    LEVELS.every((level) => typeof logger[level] === 'function') &&
    (logger.child === undefined || typeof logger.child === 'function')
  );
}

/** Loggers checkLogger() returned: an owner passing its checked logger on does not get a child's child. */
const checked = new WeakSet<Logger>();

/** Checks a `logger` option; returns the logger to use (its child when it can make one). */
export function checkLogger(value: unknown): Logger | undefined {
  if (value === undefined) return undefined;
  if (!isLogger(value)) {
    throw invalidOption('logger', 'a logger with debug, info, warn and error methods (pino-compatible)', value);
  }
  if (checked.has(value)) return value;
  let logger: Logger = value;
  try {
    const child = value.child?.({ component: 'continuous-tls' });
    if (isLogger(child)) logger = child;
  } catch {
    // A logger that cannot make a child is used as it is.
  }
  checked.add(logger);
  return logger;
}

/** Whether `level` would be written (true when the logger cannot say). */
export function logs(logger: Logger, level: LogLevel): boolean {
  try {
    return typeof logger.isLevelEnabled !== 'function' || logger.isLevelEnabled(level) !== false;
  } catch {
    return false;
  }
}

/** Writes one entry; a throwing logger is ignored. */
export function log(logger: Logger, level: LogLevel, obj: Record<string, unknown>, msg: string): void {
  try {
    logger[level](obj, msg);
  } catch {
    // The decision goes on whatever the logger does.
  }
}

/** An error as a log field: its code and message, never its cause chain or custom properties. */
export function errorFields(error: unknown): Record<string, unknown> {
  const message = describeThrown(error);
  const code = codeOfThrown(error);
  return code === undefined ? { message } : { code, message };
}
