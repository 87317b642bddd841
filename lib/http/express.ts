/**
 * authorizeRequest as Express middleware, mounted on the app or on any express.Router().
 *
 * The resource is the whole path Express routes (`/api/orders`, not the `/orders` a router mounted
 * at `/api` sees): the mount path Express has matched (`req.baseUrl`) followed by `req.url`, which
 * is what the routers after this middleware match, after any rewrite of `req.url` before it (never
 * `req.originalUrl`, which no router reads). Each part is spelled the way the routers that match it
 * match paths. Express does not tell a middleware which router runs it, so the adapter looks for
 * itself in the app's own stack:
 * - found there (`app.use(mw)`, `app.use('/api', mw)`, a route's handlers): `req.url` is matched
 *   with the app's `case sensitive routing` and `strict routing`;
 * - not found: it runs inside a router, and express.Router() does not inherit the app's settings
 *   (its defaults are case-insensitive and not strict): `req.url` is read with the router's rules,
 *   its defaults or what the mount's `paths` option says (`express({ paths: { caseSensitive: true } })`).
 * The mount path is matched by the app (unless the middleware sits at its root or in a route) and
 * by each parent app that mounted it at a path (`parent.use('/tenant', app)`): it is case-folded
 * when any of them ignores case. Routers nested in a router are assumed to match it with the app's
 * case setting.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answerRefusal, type DenyHook } from './deny.js';
import { canonicalPath, EXPRESS_PATH_RULES, type CanonicalPath, type PathRules } from './path.js';
import { splitOrigin, withPaths } from './path-options.js';
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
  /** Set by the parent app that mounted this one (`parent.use('/tenant', app)`). */
  parent?: ExpressApp;
  mountpath?: unknown;
}
interface ExpressRouter {
  caseSensitive?: unknown;
  strict?: unknown;
  stack?: Array<{ handle?: unknown; slash?: boolean; route?: { stack?: Array<{ handle?: unknown }> } }>;
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
  const where = placeInApp(app, self);
  const rules = withPaths(withPaths(where === 'router' ? EXPRESS_PATH_RULES : appRules(app), paths), mount);
  // What is routed from here on: req.url, as the middleware before this one left it (rewrites included).
  const url = req.url ?? '/';
  const rest = canonicalPath(url, rules);
  const baseUrl = (req as { baseUrl?: unknown }).baseUrl;
  if (!rest.ok || typeof baseUrl !== 'string' || baseUrl === '') return rest;
  // The mount path, matched by the routers above this one: folded when any of them ignores case.
  const caseSensitive = mountCaseSensitive(app, where !== 'app');
  const base = canonicalPath(baseUrl, { ...rules, caseSensitive, mergeSlashes: false });
  if (!base.ok) return base;
  if (rest.path !== '/') return { ok: true, path: `${base.path}${rest.path}` };
  // Express hands the mounted code `/` for both `/api` and `/api/`; a strict router told them apart.
  const slash = !rules.ignoreTrailingSlash && trailingSlash((req as { originalUrl?: unknown }).originalUrl);
  return { ok: true, path: slash ? `${base.path}/` : base.path };
}

/**
 * Where the middleware sits: in the app's own router, where the app matched none of the mount path
 * (`app.use(mw)`, a route's handlers) or a part of it (`app.use('/api', mw)`); or inside an
 * express.Router().
 */
function placeInApp(app: ExpressApp | undefined, self: ExpressMiddleware): 'app' | 'app-mount' | 'router' {
  const stack = routerOf(app)?.stack;
  if (!Array.isArray(stack)) return 'router';
  const layer = stack.find((l) => l.handle === self || l.route?.stack?.some((r) => r.handle === self) === true);
  if (layer === undefined) return 'router';
  // A route does not move the mount path; neither does `use` at the root.
  return layer.slash === true || layer.route !== undefined ? 'app' : 'app-mount';
}

/**
 * Whether every router that matched part of `req.baseUrl` matches case-sensitively: the app's own
 * (unless it matched nothing), then each parent app that mounted this one at a path. An app mounted
 * in several parents knows only the last one (`app.parent`).
 */
function mountCaseSensitive(app: ExpressApp | undefined, appMatched: boolean): boolean {
  if (appMatched && !appRules(app).caseSensitive) return false;
  let child = app;
  for (let depth = 0; child?.parent !== undefined && depth < MAX_MOUNT_DEPTH; depth++) {
    if (child.mountpath !== '/' && !appRules(child.parent).caseSensitive) return false;
    child = child.parent;
  }
  return true;
}

/** Deeper chains of mounted apps are not written by hand; the bound only stops a cycle. */
const MAX_MOUNT_DEPTH = 64;

function trailingSlash(url: unknown): boolean {
  if (typeof url !== 'string') return false;
  const { rest } = splitOrigin(url);
  const end = rest.search(/[?#]/);
  return (end === -1 ? rest : rest.slice(0, end)).endsWith('/');
}

/**
 * The app's `case sensitive routing` and `strict routing` (both off by default), as its router took
 * them when Express built it: a sub-app's settings inherit its parent's once mounted, but a router
 * built before that keeps the settings it was built with.
 */
function appRules(app: ExpressApp | undefined): Readonly<PathRules> {
  const router = routerOf(app);
  const setting = (own: unknown, name: string): boolean => (typeof own === 'boolean' ? own : app?.get?.(name) === true);
  const cased = setting(router?.caseSensitive, 'case sensitive routing');
  const strict = setting(router?.strict, 'strict routing');
  return RULES[cased ? (strict ? 3 : 1) : strict ? 2 : 0]!;
}

function routerOf(app: ExpressApp | undefined): ExpressRouter | undefined {
  try {
    return app?.router;
  } catch {
    return undefined;
  }
}

const RULES: ReadonlyArray<Readonly<PathRules>> = [
  EXPRESS_PATH_RULES,
  Object.freeze({ ...EXPRESS_PATH_RULES, caseSensitive: true }),
  Object.freeze({ ...EXPRESS_PATH_RULES, ignoreTrailingSlash: false }),
  Object.freeze({ ...EXPRESS_PATH_RULES, caseSensitive: true, ignoreTrailingSlash: false }),
];
