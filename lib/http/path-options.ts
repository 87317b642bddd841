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

/**
 * The request-target the router routes, which is not always what the client sent: Fastify's
 * `rewriteUrl` and an Express middleware that rewrites `req.url` change it before routing (both
 * keep the client's in `req.originalUrl`, which no router reads). Express also strips the mount
 * path of a sub-app or router from `req.url` into `req.baseUrl`: put back in front of the path,
 * behind the scheme and authority of an absolute-form target, as Express's router keeps them.
 */
export function requestTarget(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const baseUrl = (req as { baseUrl?: unknown }).baseUrl;
  if (typeof baseUrl !== 'string' || baseUrl === '') return url;
  const { origin, rest } = splitOrigin(url);
  // `/api` mounted, `/api` asked: Express hands the mounted code `/`, which is the mount itself.
  const path = rest.startsWith('/') && (rest.length === 1 || rest[1] === '?') ? rest.slice(1) : rest;
  return `${origin}${baseUrl}${path}`;
}

/** `http://host` and `/x?y` of `http://host/x?y` (as Express's router splits it); no origin for origin-form. */
export function splitOrigin(url: string): { origin: string; rest: string } {
  if (url.startsWith('/')) return { origin: '', rest: url };
  const query = url.indexOf('?');
  const scheme = url.slice(0, query === -1 ? url.length : query).indexOf('://');
  if (scheme === -1) return { origin: '', rest: url };
  const slash = url.indexOf('/', scheme + 3);
  const pathEnd = query === -1 ? url.length : query;
  const end = slash === -1 || slash > pathEnd ? pathEnd : slash;
  return { origin: url.slice(0, end), rest: url.slice(end) };
}
