// Type-level checks of `req.authorization` in Express and Fastify apps, through the package's own
// entries (continuous-tls/http/express and /http/fastify), as an app sees them. This file never
// runs: `npm run typecheck` compiles it, and test/http-framework-types.test.ts compiles it alone.
// Each `@ts-expect-error` must meet an error.
import type {} from 'continuous-tls/http/express';
import type {} from 'continuous-tls/http/fastify';
import express from 'express';
import Fastify from 'fastify';
import { authorizeRequest, type RequestAuthorization } from 'continuous-tls/http';

const authz = authorizeRequest({ policy: () => true });

const app = express();
const router = express.Router({ caseSensitive: true });
router.use(authz.express({ paths: { caseSensitive: true } }));
app.use('/api', router);
app.use(authz.express());
app.get('/orders', (req, res) => {
  const allowed: boolean | undefined = req.authorization?.allow;
  if (req.authorization !== undefined) {
    const decision: RequestAuthorization = req.authorization;
    const path: string | undefined = req.authorization.input.request?.path;
    res.json({ allow: req.authorization.allow, reason: decision.reason, path });
    return;
  }
  // @ts-expect-error only requests behind the middleware carry it: it may be undefined
  res.json({ allowed, reason: req.authorization.reason });
});

const api = Fastify();
void api.register(authz.fastify, {
  prefix: '/api',
  onDeny: (request, reply, refusal) => {
    if (refusal.decision?.reason === 'maintenance') return reply.code(503).send({ url: request.raw.url });
    return undefined;
  },
});
api.get('/api/orders', async (request) => {
  const decision: RequestAuthorization | null = request.authorization;
  // @ts-expect-error null on routes the plugin does not decide
  const reason: string = request.authorization.reason;
  return { allow: request.authorization?.allow ?? false, decision, reason };
});
api.get('/health', { config: { authorization: false } }, async (request) => request.routeOptions.config.authorization);
// @ts-expect-error the opt-out is a boolean
api.get('/typo', { config: { authorization: 'no' } }, async () => 'x');
