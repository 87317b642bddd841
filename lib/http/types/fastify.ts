/// <reference types="fastify" preserve="true" />
/**
 * `continuous-tls/http/fastify`: declares `request.authorization` on Fastify requests. A separate
 * entry so that apps without Fastify never need its types: opt in with
 * `import type {} from 'continuous-tls/http/fastify'` (or a plain `import` of it; it has no code).
 *
 * Also declares the route option `config: { authorization: false }`. The plugin decorates every
 * request with `null` and sets the decision once a request is allowed: it stays null on routes with
 * `config: { authorization: false }` and outside the plugin's `prefix`.
 */
import type { RequestAuthorization } from '../authorize-request.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false`: the plugin does not decide requests of this route (request.authorization stays null). */
    authorization?: boolean;
  }
  interface FastifyRequest {
    /** The decision that allowed this request, set by the `authz.fastify` plugin; null where it did not run. */
    authorization: RequestAuthorization | null;
  }
}
