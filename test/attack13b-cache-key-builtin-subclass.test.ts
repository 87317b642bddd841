// Attack (cache key soundness): the decision cache key spells a built-in value "by its whole state":
// a Map by its entries, a Date by its time, a typed array by its bytes. It accepts any instance of
// those kinds, though: a subclass (state in its own fields, a getter on its prototype) or an
// instance given own properties. A policy reads that state; the key does not. Two inputs that
// differ only there share one key, and the first cached answer serves the other. Below, an app
// keeps a user's attributes in a Map subclass that also carries the tenant it was loaded for; the
// policy allows tenant "acme" only, and tenant "evil" is then served acme's cached allow. The same
// with an annotated Date and an annotated Uint8Array.
// The library already refuses exactly this for a certificate (a subclass or an annotated
// X509Certificate is decided uncached); a correct library does the same for every built-in kind it
// spells by its contents: a subclass, or an instance with own properties, is Uncacheable (decided
// by the policy), never keyed as the plain value.
// Attack class: cache key soundness (9).
import t from 'tap';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

class Attributes extends Map<string, string> {
  constructor(
    entries: Array<[string, string]>,
    readonly tenant: string,
  ) {
    super(entries);
  }
}

const cases: Array<{ name: string; value: (tenant: string) => unknown }> = [
  { name: 'a Map subclass with a field of its own', value: (tenant) => new Attributes([['role', 'admin']], tenant) },
  { name: 'a Date given an own property', value: (tenant) => Object.assign(new Date(0), { tenant }) },
  { name: 'a Uint8Array given an own property', value: (tenant) => Object.assign(new Uint8Array([1]), { tenant }) },
];

for (const { name, value } of cases) {
  for (const facts of [['context.user'], null]) {
    t.test(`${name} is not keyed as the plain value (facts: ${JSON.stringify(facts)})`, async (t) => {
      const policy = Object.assign(
        (input: AuthorizationInput) => ({
          allow: (input.context as { user: { tenant: string } }).user.tenant === 'acme',
          reason: 'tenant',
        }),
        facts === null ? {} : { factsRead: () => facts },
      );
      const decide = cached(policy, new DecisionCache());
      const acme = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { user: value('acme') } });
      const evil = certInput(certs.clientCert, 'DELETE', '/users/7', { context: { user: value('evil') } });
      t.match(await decide.evaluate(acme), { allow: true }, 'tenant acme is allowed');
      t.match(await decide.evaluate(evil), { allow: false }, "tenant evil is not served acme's cached allow");
    });
  }
}
