// Attack (cache key soundness): a declared fact (`factsRead`) that names an object or array covers
// everything under it, and so does the whole-input key of a policy that declares nothing. The key
// spells such a value by its array elements and its own enumerable string keys only. A policy reads
// more than that from the same value:
//  - a named own property of an array (`groups.primary = 'admins'`, a RegExp match's `groups`,
//    `index`): not an element, not in the key;
//  - a non-enumerable own property (Object.defineProperty, a frozen record's hidden field);
//  - -0 against 0 (`Object.is`, `1 / x`), a hole against undefined (`i in array`).
// Two inputs that differ only there share one key, and the first cached answer serves the other:
// below, a user whose primary group is `admins` is allowed, and a user whose primary group is
// `readers` is then served the cached allow.
//
// A correct library keys every own property of an array or object a policy can read (or, for what
// it cannot spell exactly, decides the input uncached, Uncacheable), so two inputs the policy
// answers differently never share a key.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

type Groups = string[] & { primary?: string };
const groups = (primary: string): Groups => Object.assign(['staff'], { primary });

function policyOn(facts: string[] | null) {
  return Object.assign(
    (input: AuthorizationInput) => ({
      allow: (input.context as { groups: Groups }).groups.primary === 'admins',
      reason: 'primary group',
    }),
    facts === null ? {} : { factsRead: () => facts },
  );
}

for (const facts of [['context.groups'], null]) {
  t.test(`an array's named property is keyed (facts: ${JSON.stringify(facts)})`, async (t) => {
    const decide = cached(policyOn(facts), new DecisionCache());
    const admin = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { groups: groups('admins') } });
    const reader = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { groups: groups('readers') } });
    t.match(await decide.evaluate(admin), { allow: true }, 'the admin is allowed');
    t.match(await decide.evaluate(reader), { allow: false }, 'a reader is not served the admin allow');
  });
}

t.test('a non-enumerable own property is keyed', async (t) => {
  const user = (role: string) => Object.defineProperty({ name: 'u' }, 'role', { value: role, enumerable: false });
  const policy = Object.assign(
    (input: AuthorizationInput) => ({ allow: (input.context as { user: { role: string } }).user.role === 'admin' }),
    { factsRead: () => ['context.user'] },
  );
  const decide = cached(policy, new DecisionCache());
  const admin = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { user: user('admin') } });
  const guest = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { user: user('guest') } });
  t.match(await decide.evaluate(admin), { allow: true }, 'the admin is allowed');
  t.match(await decide.evaluate(guest), { allow: false }, 'a guest is not served the admin allow');
});
