// Attack (cache key soundness): since round 10b the walk of a declared fact (`factsRead`) refuses a
// class instance it passes through (Uncacheable: decided without the cache), because a getter on
// its prototype answers what no own property shows. Arrays are exempt from that check, class
// instances or not: an app's `class Roles extends Array { get admin() { … } }` (or any Array
// subclass with an accessor, e.g. a collection type from an ORM) on a declared path is walked with
// hasOwnProperty, `admin` is not an own property, and the fact is keyed as undefined for every
// user. The first cached allow (an admin's) then answers everyone with the same certificate and
// action, a non-admin included.
//
// A correct library treats an array whose prototype is not Array.prototype like any other class
// instance on a declared path (Uncacheable, decided uncached), or keys the value the policy reads:
// a non-admin is never served the admin's cached allow.
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

class Roles extends Array<string> {
  get admin(): boolean {
    return this.includes('admin');
  }
}
const roles = (...names: string[]) => Roles.from(names) as Roles;

t.test('a declared fact behind an Array subclass getter keys on the value the policy reads', async (t) => {
  const policy = Object.assign(
    (input: AuthorizationInput) => ({
      allow: (input.context as { roles: Roles }).roles.admin,
      reason: 'roles',
    }),
    { factsRead: () => ['context.roles.admin'] },
  );
  const decide = cached(policy, new DecisionCache());
  const admin = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { roles: roles('admin') } });
  const guest = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { roles: roles('reader') } });
  t.equal(admin.context && (admin.context as { roles: Roles }).roles.admin, true);
  t.match(await decide.evaluate(admin), { allow: true }, 'the admin is allowed');
  t.match(await decide.evaluate(guest), { allow: false }, 'a reader is not served the admin allow');
});
