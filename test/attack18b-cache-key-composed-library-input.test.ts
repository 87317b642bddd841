// Attack (cache key, libraryParts / walk / wholeInputInto, f859234): an input the library built
// (policyInput, authorizeRequest: builtByLibrary) is trusted as plain data "made from the library's
// own state": its top level, peer, request and connection are read directly (getters run), and
// under a whole-input key its trigger, peer and connection are not checked for non-enumerable or
// symbol-keyed state. But that very object is handed to app code before a cache keys it:
// allOf/anyOf/firstApplicable pass the same input to each constituent in turn, so an app's
// enricher running before a cached() constituent can define accessors on it or stamp hidden state.
// - A getter on input.action runs while the key is built (docs/security.md: "Building a key runs
//   none of the input's code"), and its first answer ('delete') is keyed while the policy reads
//   'read': the allow for 'read' is stored under the 'delete' key and served to a real delete.
// - A symbol-keyed fact an enricher stamps on input.connection is read by the policy and omitted
//   from the whole-input key: the allow made for a stamped (gold) connection is served to an
//   unstamped one.
//
// A correct library checks the library-built parts like any other once app code has held them (or
// hands constituents an input they cannot change), so in both cases the second input is asked of
// the policy and denied.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { DecisionCache, cached } from '../dist/policy/cache.js';
import { allOf } from '../dist/policy/compose.js';
import { actionName } from '../dist/policy/facts.js';
import { policyInput } from '../dist/authz/policy-input.js';
import type { AuthorizationInput } from '../dist/common/types.js';
import { certs } from './helpers/certs';

const leaf = new X509Certificate(certs.clientCert);

/** An input as the TLS tier builds it for a decision (builtByLibrary). */
function libraryInput(): AuthorizationInput {
  const subject = {
    createdAt: 0,
    info: () => ({ remoteAddress: '192.0.2.7', protocol: 'TLSv1.3', servername: 'api.example' }),
  };
  return policyInput(subject as never, {
    trigger: 'interval',
    chain: [leaf],
    verdict: { ok: true } as never,
    now: 1000,
    reauthCount: 0,
    context: {},
    token: undefined,
  });
}

const allowAlways = Object.assign(() => ({ allow: true, reason: 'enriched', ttlMs: 60_000 }), { factsRead: () => [] });

t.test("a getter a composed constituent puts on a library input's action is not run by the key", async (t) => {
  let asked = 0;
  const inner = cached(
    Object.assign(
      (input: AuthorizationInput) => {
        asked++;
        return { allow: actionName(input) === 'read', reason: 'action', ttlMs: 60_000 };
      },
      { factsRead: () => ['connection.remoteAddress'] },
    ),
    new DecisionCache(),
  );
  let reads = 0;
  // An enricher that resolves the action lazily (here: a shifty one).
  const enricher = (input: AuthorizationInput) => {
    Object.defineProperty(input, 'action', {
      configurable: true,
      enumerable: true,
      get: () => (reads++ === 0 ? 'delete' : 'read'),
    });
    return allowAlways();
  };
  const composed = allOf(enricher, inner);
  await composed.evaluate(libraryInput());
  t.equal(reads, 1, 'the key ran none of the getter (only the policy read it)');

  const del = libraryInput();
  del.action = 'delete';
  t.match(await inner.evaluate(del), { allow: false }, "a real delete is not served the read's allow");
  t.equal(asked, 2, 'the policy is asked about the delete');
});

t.test('a symbol-keyed fact a composed constituent stamps on a library input is keyed', async (t) => {
  const kTier = Symbol('tier');
  let asked = 0;
  // No factsRead: the whole input is the key.
  const inner = cached((input: AuthorizationInput) => {
    asked++;
    return {
      allow: (input.connection as unknown as Record<symbol, unknown>)[kTier] === 'gold',
      reason: 'tier',
      ttlMs: 60_000,
    };
  }, new DecisionCache());
  t.equal(inner.cache.facts, null, 'the whole input is keyed');
  let gold = true;
  // Tiers come from a directory the enricher asks; it keeps them off the enumerable facts.
  const enricher = (input: AuthorizationInput) => {
    if (gold) (input.connection as unknown as Record<symbol, unknown>)[kTier] = 'gold';
    return allowAlways();
  };
  const composed = allOf(enricher, inner);
  t.match(await composed.evaluate(libraryInput()), { allow: true }, 'a gold connection is allowed');
  gold = false;
  t.match(await composed.evaluate(libraryInput()), { allow: false }, "an unstamped one is not served gold's allow");
  t.equal(asked, 2, 'the policy is asked about the unstamped connection');
});
