// Attack (cache key, appParts, f859234): the action and the resource are keyed "as actionName() and
// resourceId() do" (input.action ?? input.request?.method ?? input.trigger, and likewise the path).
// Since f859234 an app-built input is read through ownData() only: appParts() checks that the input
// and its peer are plain objects (plainOnly), but never the request. ownData(request, 'method') of a
// request whose method is inherited (a class instance with a `method` getter, or plain
// Object.create({ method })) is undefined, so the key falls back to the trigger, while the policy's
// actionName() reads the inherited method. Two requests that differ only in an inherited method or
// path share one key: the GET's allow is served to the DELETE. (Before f859234 the key read
// request.method as the policy does.)
//
// A correct library refuses a request that is not a plain object (as walk() and plainOnly() do
// elsewhere), or keys what the policy reads, so the DELETE is asked of the policy and denied.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import { processCacheKey, defaultCacheKey } from '../dist/policy/cache-key.js';
import { actionName, resourceId } from '../dist/policy/facts.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

function policyOnAction() {
  let asked = 0;
  const policy = cached(
    Object.assign(
      (input: AuthorizationInput) => {
        asked++;
        return {
          allow: actionName(input) === 'GET' && resourceId(input) === '/public',
          reason: 'action',
          ttlMs: 60_000,
        };
      },
      // The action and the resource are always keyed: the policy needs to declare nothing else.
      { factsRead: () => ['connection.remoteAddress'] },
    ),
    new DecisionCache(),
  );
  return { policy, asked: () => asked };
}

class AppRequest {
  readonly #method: string;
  readonly #path: string;
  headers = {};
  constructor(method: string, path: string) {
    this.#method = method;
    this.#path = path;
  }
  get method(): string {
    return this.#method;
  }
  get path(): string {
    return this.#path;
  }
}

t.test('an inherited request method is not keyed as the trigger', async (t) => {
  const get = certInput(certs.clientCert, 'GET', '/public');
  get.request = Object.create({ method: 'GET', path: '/public', headers: {} }) as AuthorizationInput['request'];
  const del = certInput(certs.clientCert, 'GET', '/public');
  del.request = Object.create({ method: 'DELETE', path: '/public', headers: {} }) as AuthorizationInput['request'];
  t.equal(actionName(get), 'GET');
  t.equal(actionName(del), 'DELETE');
  const kGet = processCacheKey(get, ['connection.remoteAddress']);
  const kDel = processCacheKey(del, ['connection.remoteAddress']);
  t.ok(kGet === undefined || kGet !== kDel, 'GET and DELETE do not share a DecisionCache key');
  const dGet = defaultCacheKey(get, ['connection.remoteAddress']);
  const dDel = defaultCacheKey(del, ['connection.remoteAddress']);
  t.ok(dGet === undefined || dGet !== dDel, 'GET and DELETE do not share a defaultCacheKey');

  const { policy, asked } = policyOnAction();
  t.match(await policy.evaluate(get), { allow: true });
  t.match(await policy.evaluate(del), { allow: false }, "the DELETE is not served the GET's allow");
  t.equal(asked(), 2, 'the policy is asked about the DELETE');
});

t.test('a class-instance request (getters on its prototype) is not keyed as the trigger', async (t) => {
  const { policy, asked } = policyOnAction();
  const get = certInput(certs.clientCert);
  get.request = new AppRequest('GET', '/public') as unknown as AuthorizationInput['request'];
  const del = certInput(certs.clientCert);
  del.request = new AppRequest('DELETE', '/admin') as unknown as AuthorizationInput['request'];
  t.match(await policy.evaluate(get), { allow: true });
  t.match(await policy.evaluate(del), { allow: false }, "DELETE /admin is not served GET /public's allow");
  t.equal(asked(), 2, 'the policy is asked about DELETE /admin');
});
