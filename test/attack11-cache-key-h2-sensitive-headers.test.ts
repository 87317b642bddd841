// Attack (cache key soundness): the whole-input cache key skips its hidden-state checks on the
// `request` part of inputs authorizeRequest built, on the premise that node's parsed headers are
// plain data with no symbol-keyed property. On HTTP/2 they are not: node's http2 (and its
// compatibility API, which authorizeRequest serves) gives `req.headers` an own symbol-keyed
// property, `http2.sensitiveHeaders`, listing the headers the PEER sent as never-indexed (HPACK,
// RFC 7541 §7.1.3). It is peer-controlled state a policy can read (below: an API key must
// be sent never-indexed, so no intermediary's header table keeps it), and the key does not spell
// it: the allow of a request that marked its key is served to the same request without the
// mark. Before the skip every HTTP/2 request under a whole-input key was Uncacheable.
//
// A correct library keys (or refuses to key, deciding uncached) every own property of the input a
// policy can read, whatever the peer sent and whoever built the input.
import t from 'tap';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizeRequest } from '../dist/http/authorize-request.js';
import { DecisionCache } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { serverTls } from './helpers/policy-https';

t.test("a request's never-indexed header marks are keyed", async (t) => {
  // The connection's age is part of the whole-input key: hold the clock so two requests can meet.
  const realNow = Date.now;
  const frozen = realNow();
  Date.now = () => frozen;
  t.teardown(() => {
    Date.now = realNow;
  });
  let asked = 0;
  const policy = (input: AuthorizationInput) => {
    asked++;
    const headers = input.request!.headers as Record<string | symbol, unknown>;
    const sensitive = (headers[http2.sensitiveHeaders] as string[] | undefined) ?? [];
    return { allow: sensitive.includes('x-api-key'), reason: 'credential never-indexed' };
  };
  const authz = authorizeRequest({ policy, cache: new DecisionCache() });
  const handler = authz.node((_req: IncomingMessage, res: ServerResponse) => res.end('ok'));
  const server = http2.createSecureServer(serverTls, handler as never);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const session = http2.connect(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    ca: certs.ca,
    cert: certs.clientChain,
    key: certs.clientKey,
    servername: 'localhost',
  });
  t.teardown(() => {
    session.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const get = (sensitive: string[]) =>
    new Promise<number>((resolve, reject) => {
      const req = session.request({
        ':method': 'GET',
        ':path': '/orders',
        'x-api-key': 'k-opaque-1234',
        [http2.sensitiveHeaders]: sensitive,
      });
      req.on('response', (h) => resolve(h[':status'] as number));
      req.on('error', reject);
      req.resume();
      req.end();
    });
  t.equal(await get(['x-api-key']), 200, 'a never-indexed credential is allowed');
  t.equal(await get([]), 403, 'an indexable credential is not served the cached allow');
  t.equal(asked, 2, 'the policy was asked about the second request');
});
