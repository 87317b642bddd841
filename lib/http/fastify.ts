/**
 * authorizeRequest as a Fastify plugin, in the fastify-plugin style: `skip-override` (its onRequest
 * hook covers every route of the instance that registers it, child plugins included), a display
 * name, and `plugin-meta` with the Fastify versions it supports, which Fastify checks at register.
 *
 * Options (`fastify.register(authz.fastify, options)`):
 * - `prefix`: only requests whose routed path is the prefix or under it are decided. The path is
 *   the canonical one the policy sees (the router's case and slash rules applied), compared without
 *   regard to letter case, so `/API/x` is under `/api` whatever the router's case rule. Fastify
 *   itself ignores `prefix` for a plugin that skips encapsulation.
 * - `onDeny(request, reply, refusal)`: shapes the answer to a refused request.
 * A route opts out with `config: { authorization: false }`: Fastify has matched the route before
 * onRequest runs, so the opt-out belongs to the handler that will run, whatever the spelling.
 * The path decided is the one Fastify's router matched: `req.url` after `rewriteUrl`, not the
 * client's `originalUrl`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidOption } from '../common/errors.js';
import { checkFunction, checkObject, checkString } from '../common/validate.js';
import type { DenyHook } from './deny.js';
import { canonicalPath, FASTIFY_PATH_RULES, type CanonicalPath, type PathRules } from './path.js';
import { withPaths } from './path-options.js';
import {
  FRAMING_HEADERS,
  INTERNAL_ERROR_BODY,
  PROBLEM_CONTENT_TYPE,
  warnInternalError,
  type RequestRefusal,
} from './problem.js';

/** The part of a Fastify instance the plugin uses (fastify stays an optional peer of this library). */
export interface FastifyInstanceLike {
  initialConfig?: Record<string, unknown> & { routerOptions?: Record<string, unknown> };
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
  decorateRequest(name: string, value: unknown): unknown;
  hasRequestDecorator(name: string): boolean;
}
export interface FastifyRequestLike {
  raw: IncomingMessage;
  routeOptions?: { config?: unknown };
}
export interface FastifyReplyLike {
  raw: ServerResponse;
  readonly sent: boolean;
  code(status: number): FastifyReplyLike;
  header(name: string, value: unknown): FastifyReplyLike;
  removeHeader?(name: string): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
  hijack(): FastifyReplyLike;
}

export interface FastifyAuthorizeOptions {
  /** Decide only requests whose canonical path is this path or under it (`/api`: `/api`, `/api/x`). */
  prefix?: string;
  /**
   * Shapes the answer to a refused request, in place of the authorizer's `onDeny`. Answer with
   * `reply.send()` (or hijack the reply); a hook that does not answer, whatever it returns (the
   * reply itself included), gets the default problem, with the headers it set on the reply (framing
   * headers aside). A hook that throws gets a bare 500 problem.
   */
  onDeny?(request: FastifyRequestLike, reply: FastifyReplyLike, refusal: RequestRefusal): unknown;
}

/** `opts` is required in the type (Fastify always passes an object) so that register() infers it. */
export type FastifyAuthorizePlugin = (instance: FastifyInstanceLike, opts: FastifyAuthorizeOptions) => Promise<void>;

/** What the plugin needs from its authorizer. */
export interface FastifyCore {
  decide(
    req: IncomingMessage,
    target: CanonicalPath,
  ): Promise<{ allowed: true; authorization: unknown } | RequestRefusal>;
  paths: Partial<PathRules> | undefined;
  onDeny: DenyHook | undefined;
}

const kSkipOverride = Symbol.for('skip-override');
const kDisplayName = Symbol.for('fastify.display-name');
const kPluginMeta = Symbol.for('plugin-meta');
const NAME = 'continuous-tls-authorize';

export function fastifyPlugin(core: FastifyCore): FastifyAuthorizePlugin {
  const plugin = async function continuousTlsAuthorize(
    instance: FastifyInstanceLike,
    opts?: FastifyAuthorizeOptions,
  ): Promise<void> {
    const rules = withPaths(fastifyRules(instance), core.paths);
    const { prefix, onDeny } = checkPluginOptions(opts, rules);
    // null, not an object: Fastify gives every request its own slot (a stable shape, no shared value).
    if (!instance.hasRequestDecorator('authorization')) instance.decorateRequest('authorization', null);
    instance.addHook('onRequest', async (request, reply) => {
      try {
        if (optedOut(request)) return undefined;
        // What Fastify's router matched: req.url, after rewriteUrl.
        const target = canonicalPath(request.raw.url ?? '/', rules);
        if (prefix !== undefined && !under(prefix, target)) return undefined;
        const outcome = await core.decide(request.raw, target);
        if (outcome.allowed) {
          (request as FastifyRequestLike & { authorization?: unknown }).authorization = outcome.authorization;
          (request.raw as IncomingMessage & { authorization?: unknown }).authorization = outcome.authorization;
          return undefined;
        }
        return await refuse(request, reply, outcome, onDeny, core.onDeny);
      } catch (err) {
        return internalError(reply, err);
      }
    });
  };
  Object.assign(plugin, {
    [kSkipOverride]: true,
    [kDisplayName]: NAME,
    [kPluginMeta]: { name: NAME, fastify: '5.x' },
  });
  return plugin;
}

async function refuse(
  request: FastifyRequestLike,
  reply: FastifyReplyLike,
  refusal: RequestRefusal,
  onDeny: FastifyAuthorizeOptions['onDeny'],
  rawOnDeny: DenyHook | undefined,
): Promise<FastifyReplyLike> {
  try {
    if (onDeny !== undefined) {
      if (await answeredBy(reply, () => onDeny(request, reply, refusal))) return reply;
    } else if (rawOnDeny !== undefined) {
      await rawOnDeny(request.raw, reply.raw, refusal);
      // The hook answered on the raw response: Fastify must not answer again.
      if (reply.raw.headersSent) return reply.hijack();
    }
  } catch (err) {
    return internalError(reply, err);
  }
  // Framing a hook set (on the reply or the raw response) would misframe this body.
  for (const name of FRAMING_HEADERS) {
    reply.removeHeader?.(name);
    reply.raw.removeHeader(name);
  }
  // A Buffer, so Fastify sends the body and content-type exactly as given (no charset added).
  return reply.code(refusal.status).headers(refusal.headers).send(Buffer.from(refusal.body));
}

/**
 * Runs the deny hook and says whether it answered: it sent (`reply.send()`, which may finish later,
 * after onSend hooks), hijacked, or wrote the raw response. What it returns does not count: the
 * fluent API returns the reply from `reply.header()` as from `reply.send()`.
 *
 * A reply is a thenable that settles when the response ends, so awaiting a hook that returns it
 * unsent would wait forever. While the hook runs, `then` settles at once and `send` is noted.
 */
const WATCHED = ['then', 'send'] as const;

async function answeredBy(reply: FastifyReplyLike, hook: () => unknown): Promise<boolean> {
  let sent = false;
  const own = reply as unknown as Record<string, unknown>;
  const saved = WATCHED.map((name) => Object.getOwnPropertyDescriptor(own, name));
  const send = reply.send;
  own['then'] = (fulfilled: () => void) => fulfilled();
  own['send'] = function (this: FastifyReplyLike, payload?: unknown) {
    sent = true;
    return send.call(this, payload);
  };
  try {
    await hook();
  } finally {
    WATCHED.forEach((name, i) => {
      const descriptor = saved[i];
      if (descriptor === undefined) delete own[name];
      else Object.defineProperty(own, name, descriptor);
    });
  }
  return sent || reply.sent || reply.raw.headersSent || reply.raw.writableEnded;
}

function internalError(reply: FastifyReplyLike, err: unknown): FastifyReplyLike {
  warnInternalError(err);
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy();
    return reply.sent ? reply : reply.hijack();
  }
  return reply
    .code(500)
    .headers({ 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store' })
    .send(Buffer.from(INTERNAL_ERROR_BODY));
}

/** `config: { authorization: false }` on the matched route; nothing else opts out. */
function optedOut(request: FastifyRequestLike): boolean {
  const config = request.routeOptions?.config;
  return (
    config !== null && typeof config === 'object' && (config as { authorization?: unknown }).authorization === false
  );
}

/**
 * A path refused as ambiguous counts as under the prefix: it is decided, and answered 400. Letter
 * case never takes a path out from under the prefix (`prefix` is kept lowercase): if the router's
 * case rule were misread, a request would still be decided, on the path as the router spells it.
 */
function under(prefix: string, target: CanonicalPath): boolean {
  if (!target.ok) return true;
  const path = target.path.toLowerCase();
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}

function checkPluginOptions(
  opts: FastifyAuthorizeOptions | undefined,
  rules: PathRules,
): { prefix: string | undefined; onDeny: FastifyAuthorizeOptions['onDeny'] } {
  const o = checkObject('fastify options', opts) ?? {};
  const onDeny = checkFunction<NonNullable<FastifyAuthorizeOptions['onDeny']>>('onDeny', o.onDeny);
  const raw = checkString('prefix', o.prefix);
  if (raw === undefined) return { prefix: undefined, onDeny };
  // The prefix in the form the paths it is compared with take.
  const canonical = raw.startsWith('/') ? canonicalPath(raw, { ...rules, ignoreTrailingSlash: true }) : undefined;
  if (canonical === undefined || !canonical.ok) throw invalidOption('prefix', 'a path starting with "/"', raw);
  return { prefix: canonical.path.toLowerCase(), onDeny };
}

/**
 * The router's rules, read as Fastify 5 builds its router: a key set in `routerOptions` wins, then
 * the top-level option (deprecated but honoured), then find-my-way's default. `initialConfig` cannot
 * say which: its `routerOptions` has the defaults filled in, so a top-level `ignoreTrailingSlash`
 * next to any `routerOptions` looks overridden there while the router honours it. The options the
 * router was built from are read instead, and `initialConfig` only without them.
 */
function fastifyRules(instance: FastifyInstanceLike): Readonly<PathRules> {
  const built = routerOptionsOf(instance);
  const config = instance.initialConfig;
  if (built === undefined && config === undefined) return FASTIFY_PATH_RULES;
  const setting = (name: string): unknown => {
    if (built !== undefined) return built[name];
    const router = config?.routerOptions;
    if (router !== undefined && Object.hasOwn(router, name) && (name === 'caseSensitive' || router[name] === true))
      return router[name];
    return config?.[name];
  };
  // find-my-way: only `false` turns case folding on; the others are truthy flags.
  const caseSensitive = setting('caseSensitive') !== false;
  return Object.freeze({
    caseSensitive,
    ignoreTrailingSlash: Boolean(setting('ignoreTrailingSlash')),
    mergeSlashes: Boolean(setting('ignoreDuplicateSlashes')),
    semicolonDelimiter: Boolean(setting('useSemicolonDelimiter')),
  });
}

/** The options object Fastify handed its router (on the instance under its `fastify.options` symbol). */
function routerOptionsOf(instance: FastifyInstanceLike): Record<string, unknown> | undefined {
  // A plugin's instance inherits it from the root instance (Fastify's encapsulation is prototypal).
  let key: symbol | undefined;
  for (let o: object | null = instance; o !== null && key === undefined; o = Object.getPrototypeOf(o) as object | null)
    key = Object.getOwnPropertySymbols(o).find((s) => s.description === 'fastify.options');
  if (key === undefined) return undefined;
  const options = (instance as unknown as Record<symbol, unknown>)[key];
  if (options === null || typeof options !== 'object') return undefined;
  const router = (options as { routerOptions?: unknown }).routerOptions;
  return router !== null && typeof router === 'object' ? (router as Record<string, unknown>) : undefined;
}
