// Attack (cache key soundness): a policy that declares the facts it reads (`factsRead`) is keyed on
// the values at those paths, found by walking the input with hasOwnProperty at each step. A value
// the policy reads from an object's prototype, a TypeScript/ES class getter (`get role()`) on the
// user object the app puts in its context, is not an own property: the walk yields undefined for
// every user, so every user shares one key, and the first user's cached allow answers everyone
// else. The same object anywhere the key encodes it whole is refused as Uncacheable (a class
// instance: "the input is decided uncached, never keyed as something else"); on a declared path
// it is silently keyed as nothing.
//
// A correct library keys a declared fact by the value the policy reads there, or, when the walk
// meets an object it cannot spell (a class instance, an inherited or accessor value), decides
// that input uncached: a non-admin is never served the admin's cached allow.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

class User {
  readonly #role: string;
  constructor(role: string) {
    this.#role = role;
  }
  get role(): string {
    return this.#role;
  }
}

t.test('a declared fact behind a class getter keys on the value the policy reads', async (t) => {
  const policy = Object.assign(
    (input: AuthorizationInput) => ({
      allow: (input.context as { user: User }).user.role === 'admin',
      reason: 'role',
    }),
    { factsRead: () => ['context.user.role'] },
  );
  const decide = cached(policy, new DecisionCache());
  const admin = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { user: new User('admin') } });
  const guest = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { user: new User('guest') } });
  t.match(await decide.evaluate(admin), { allow: true }, 'the admin is allowed');
  t.match(await decide.evaluate(guest), { allow: false }, 'a guest is not served the admin allow');
});
