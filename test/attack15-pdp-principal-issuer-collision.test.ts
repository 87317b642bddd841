/**
 * Attack: two issuers, one principal. `authorizeRequest({ jwt: { issuer: [corp, partner] } })`
 * accepts tokens of several identity providers, and the default AuthZEN (and Cedar) mapping names
 * the principal by the token's `sub` alone: `{ type: 'User', id: sub }`. `sub` is unique only
 * within its issuer (OpenID Connect Core §2, RFC 7519 §4.1.2), so the partner IdP's user "admin"
 * (or any sub the partner lets a user choose) is the corporate `User::"admin"`, and a policy written
 * as the documentation shows, `permit (principal == User::"admin", action, resource)`, admits her.
 * The same holds across credentials: a certificate's CN "admin" from the CA and a token's sub
 * "admin" are one principal.
 *
 * A correct library never gives two identities the same principal by default: the id names the
 * issuer (or the credential kind), e.g. a type or id per issuer, so the PDP and Cedar can only
 * match the identity the policy meant.
 *
 * Attack class: canonical names / identity confusion (cache key and principal soundness): the
 * decision point judges a principal other than the caller.
 */
import t from 'tap';
import { authzenRequest } from '../dist/policy/http-pdp.js';
import { tokenInput } from './helpers/policy-input';

t.test('the same sub from two issuers is two principals', async (t) => {
  const corp = authzenRequest(tokenInput({ iss: 'https://login.corp.example', sub: 'admin' }));
  const partner = authzenRequest(tokenInput({ iss: 'https://idp.partner.example', sub: 'admin' }));
  t.notSame(corp.subject, partner.subject, 'the AuthZEN subjects differ');
});
