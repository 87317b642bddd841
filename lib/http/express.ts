/**
 * authorizeRequest as Express middleware, mounted on the app or on any express.Router().
 *
 * The resource is the whole path (`/api/orders`, not the `/orders` a router mounted at `/api`
 * sees), spelled the way the routers that route it match paths. Express does not tell a middleware
 * which router runs it, so the adapter looks for itself in the app's own stack:
 * - found there (`app.use(mw)`, `app.use('/api', mw)`, a route's handlers): the app's router
 *   matches the whole path, with the app's `case sensitive routing` and `strict routing`;
 * - not found: it runs inside a router, and express.Router() does not inherit the app's settings
 *   (its defaults are case-insensitive and not strict). The mount path (`req.baseUrl`) is read with
 *   the app's case setting, the rest (`req.url`) with the router's: its defaults, or what the
 *   mount's `paths` option says (`express({ paths: { caseSensitive: true } })`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answerRefusal, type DenyHook } from './deny.js';
import { canonicalPath, EXPRESS_PATH_RULES, type CanonicalPath, type PathRules } from './path.js';
import { requestTarget, withPaths } from './path-options.js';
import { sendInternalError, type RequestRefusal } from './problem.js';

/** Options of one mount of the middleware. */
export interface ExpressMountOptions {
  /**
   * How the router this middleware is mounted on matches paths, over the defaults described above
   * and the authorizer's own `paths`: set it for an express.Router({ caseSensitive, strict }).
   */
  paths?: Partial<PathRules>;
}

export type ExpressMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** What the middleware needs from its authorizer. */
export interface ExpressCore {
  decide(
    req: IncomingMessage,
    target: CanonicalPath,
  ): Promise<{ allowed: true; authorization: unknown } | RequestRefusal>;
  paths: Partial<PathRules> | undefined;
  onDeny: DenyHook | undefined;
}

interface ExpressApp {
  get?(name: string): unknown;
  router?: ExpressRouter;
}
interface ExpressRouter {
  stack?: Array<{ handle?: unknown; route?: { stack?: Array<{ handle?: unknown }> } }>;
}

export function expressMiddleware(core: ExpressCore, mount: Partial<PathRules> | undefined): ExpressMiddleware {
  const middleware: ExpressMiddleware = (req, res, next) => {
    let target: CanonicalPath;
    try {
      target = expressTarget(req, middleware, core.paths, mount);
    } catch (err) {
      sendInternalError(res, err);
      return;
    }
    core
      .decide(req, target)
      .then((outcome) => {
        if (outcome.allowed) {
          (req as IncomingMessage & { authorization?: unknown }).authorization = outcome.authorization;
          next();
          return undefined;
        }
        return answerRefusal(req, res, outcome, core.onDeny);
      })
      // Not the app's error handler: Express's default one shows the stack outside production.
      .catch((err: unknown) => sendInternalError(res, err));
  };
  return middleware;
}

function expressTarget(
  req: IncomingMessage,
  self: ExpressMiddleware,
  paths: Partial<PathRules> | undefined,
  mount: Partial<PathRules> | undefined,
): CanonicalPath {
  const app = (req as { app?: ExpressApp }).app;
  if (inAppRouter(app, self))
    return canonicalPath(requestTarget(req), withPaths(withPaths(appRules(app), paths), mount));
  const rules = withPaths(withPaths(EXPRESS_PATH_RULES, paths), mount);
  // The whole target first: a spelling refused anywhere in it is refused, whoever routes which part.
  const whole = canonicalPath(requestTarget(req), rules);
  const baseUrl = (req as { baseUrl?: string }).baseUrl ?? '';
  if (!whole.ok || baseUrl === '') return whole;
  const base = canonicalPath(baseUrl, { ...rules, caseSensitive: appRules(app).caseSensitive, mergeSlashes: false });
  if (!base.ok) return base;
  const rest = canonicalPath(req.url ?? '/', rules);
  if (!rest.ok) return rest;
  return { ok: true, path: rest.path === '/' ? base.path : `${base.path}${rest.path}` };
}

/** Whether the app's own router runs this middleware (as `use` middleware or among a route's handlers). */
function inAppRouter(app: ExpressApp | undefined, self: ExpressMiddleware): boolean {
  let stack: ExpressRouter['stack'];
  try {
    stack = app?.router?.stack;
  } catch {
    return false;
  }
  if (!Array.isArray(stack)) return false;
  return stack.some((layer) => layer.handle === self || layer.route?.stack?.some((r) => r.handle === self) === true);
}

/** The app's `case sensitive routing` and `strict routing` settings (both off by default). */
function appRules(app: ExpressApp | undefined): Readonly<PathRules> {
  const cased = app?.get?.('case sensitive routing') === true;
  const strict = app?.get?.('strict routing') === true;
  return RULES[cased ? (strict ? 3 : 1) : strict ? 2 : 0]!;
}

const RULES: ReadonlyArray<Readonly<PathRules>> = [
  EXPRESS_PATH_RULES,
  Object.freeze({ ...EXPRESS_PATH_RULES, caseSensitive: true }),
  Object.freeze({ ...EXPRESS_PATH_RULES, ignoreTrailingSlash: false }),
  Object.freeze({ ...EXPRESS_PATH_RULES, caseSensitive: true, ignoreTrailingSlash: false }),
];
