/**
 * authorizeRequest as a Fastify plugin, in the fastify-plugin style: `skip-override` (its onRequest
 * hook covers every route of the instance that registers it, child plugins included), a display
 * name, and `plugin-meta` with the Fastify versions it supports, which Fastify checks at register.
 *
 * Options (`fastify.register(authz.fastify, options)`):
 * - `prefix`: only requests whose routed path is the prefix or under it are decided. The path is
 *   the canonical one the policy sees (the router's case and slash rules applied), so `/API/x`
 *   under a case-insensitive router is under `/api`. Fastify itself ignores `prefix` for a plugin
 *   that skips encapsulation.
 * - `onDeny(request, reply, refusal)`: shapes the answer to a refused request.
 * A route opts out with `config: { authorization: false }`: Fastify has matched the route before
 * onRequest runs, so the opt-out belongs to the handler that will run, whatever the spelling.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidOption } from '../common/errors.js';
import { checkFunction, checkObject, checkString } from '../common/validate.js';
import type { DenyHook } from './deny.js';
import { canonicalPath, FASTIFY_PATH_RULES, type PathRules } from './path.js';
import { requestTarget, withPaths } from './path-options.js';
import { INTERNAL_ERROR_BODY, PROBLEM_CONTENT_TYPE, warnInternalError, type RequestRefusal } from './problem.js';

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
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
  hijack(): FastifyReplyLike;
}

export interface FastifyAuthorizeOptions {
  /** Decide only requests whose canonical path is this path or under it (`/api`: `/api`, `/api/x`). */
  prefix?: string;
  /**
   * Shapes the answer to a refused request, in place of the authorizer's `onDeny`. Answer with
   * `reply.send()` and return the reply, as in any Fastify hook; return anything else and the
   * default problem is sent (the hook may have set headers on the reply). A hook that throws gets a
   * bare 500 problem.
   */
  onDeny?(request: FastifyRequestLike, reply: FastifyReplyLike, refusal: RequestRefusal): unknown;
}

/** `opts` is required in the type (Fastify always passes an object) so that register() infers it. */
export type FastifyAuthorizePlugin = (instance: FastifyInstanceLike, opts: FastifyAuthorizeOptions) => Promise<void>;

/** What the plugin needs from its authorizer. */
export interface FastifyCore {
  authorize(
    req: IncomingMessage,
    rules: PathRules,
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
        if (optedOut(request) || (prefix !== undefined && !under(prefix, request.raw, rules))) return undefined;
        const outcome = await core.authorize(request.raw, rules);
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
      const answer = await onDeny(request, reply, refusal);
      if (answer === reply || reply.sent || reply.raw.headersSent) return reply;
    } else if (rawOnDeny !== undefined) {
      await rawOnDeny(request.raw, reply.raw, refusal);
      // The hook answered on the raw response: Fastify must not answer again.
      if (reply.raw.headersSent) return reply.hijack();
    }
  } catch (err) {
    return internalError(reply, err);
  }
  // A Buffer, so Fastify sends the body and content-type exactly as given (no charset added).
  return reply.code(refusal.status).headers(refusal.headers).send(Buffer.from(refusal.body));
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

/** A path refused as ambiguous counts as under the prefix: it is decided, and answered 400. */
function under(prefix: string, req: IncomingMessage, rules: PathRules): boolean {
  const target = canonicalPath(requestTarget(req), rules);
  if (!target.ok) return true;
  return prefix === '/' || target.path === prefix || target.path.startsWith(`${prefix}/`);
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
  return { prefix: canonical.path, onDeny };
}

/** Fastify 5 keeps router options in `routerOptions` (older 5.x: at the top level). */
function fastifyRules(instance: FastifyInstanceLike): Readonly<PathRules> {
  const config = instance.initialConfig;
  const router = config?.routerOptions ?? config;
  if (router === undefined) return FASTIFY_PATH_RULES;
  const flag = (name: string, fallback: boolean): boolean =>
    typeof router[name] === 'boolean' ? (router[name] as boolean) : fallback;
  return Object.freeze({
    caseSensitive: flag('caseSensitive', FASTIFY_PATH_RULES.caseSensitive),
    ignoreTrailingSlash: flag('ignoreTrailingSlash', FASTIFY_PATH_RULES.ignoreTrailingSlash),
    mergeSlashes: flag('ignoreDuplicateSlashes', FASTIFY_PATH_RULES.mergeSlashes),
    semicolonDelimiter: flag('useSemicolonDelimiter', FASTIFY_PATH_RULES.semicolonDelimiter),
  });
}
