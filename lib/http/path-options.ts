/**
 * The `paths` option (how the router in front of the handlers matches paths) and the request-target
 * each adapter canonicalizes: shared by authorizeRequest and its Express and Fastify adapters.
 */
import type { IncomingMessage } from 'node:http';
import { invalidOption } from '../common/errors.js';
import { checkBoolean, checkObject } from '../common/validate.js';
import type { PathRules } from './path.js';

/** The path-matching rules `paths` may set. */
const PATH_RULE_NAMES: readonly string[] = [
  'caseSensitive',
  'ignoreTrailingSlash',
  'mergeSlashes',
  'semicolonDelimiter',
];

/** The rules `name` sets, each a boolean; an unknown rule is refused, not ignored. */
export function checkPaths(name: string, value: Partial<PathRules> | undefined): Partial<PathRules> | undefined {
  const paths = checkObject(name, value);
  if (paths === undefined) return undefined;
  const rules: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(paths)) {
    if (!PATH_RULE_NAMES.includes(k)) throw invalidOption(`${name}.${k}`, 'not set (unknown option)', v);
    const rule = checkBoolean(`${name}.${k}`, v);
    if (rule !== undefined) rules[k] = rule;
  }
  return rules;
}

export function withPaths(base: Readonly<PathRules>, overrides: Partial<PathRules> | undefined): Readonly<PathRules> {
  return overrides === undefined ? base : Object.freeze({ ...base, ...overrides });
}

/** What the client asked for: Express rewrites req.url inside mounted routers, originalUrl stays. */
export function requestTarget(req: IncomingMessage): string {
  return (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
}
