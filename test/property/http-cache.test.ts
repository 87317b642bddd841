// Model-based property test of the decision cache's key: random sequences of REST inputs (two
// certificates, tokens from two issuers with and without sub, client addresses, SNI names, Host,
// connection age, app risk signals) against policies that each read a random set of facts and say
// so (factsRead), or say nothing. Invariant: the cached policy answers every input exactly as the
// policy itself does. Runs: 300 by default, CTLS_PROPERTY_RUNS=<n> for more.
import fc from 'fast-check';
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { DecisionCache, cached } from '../../dist/policy/cache.js';
import { contextFacts } from '../../dist/policy/facts.js';
import { evaluatePolicy } from '../../dist/policy/evaluate.js';
import type { AuthorizationInput, PolicyAdapter } from '../../dist/common/types.js';
import { certs } from '../helpers/certs';

const RUNS = Number(process.env['CTLS_PROPERTY_RUNS'] ?? 300);
const CERTS = [undefined, new X509Certificate(certs.clientCert), new X509Certificate(certs.client2Cert)];

/** Facts a policy may read, as the dotted path it declares and how it reads it. */
const FACTS: Record<string, (i: AuthorizationInput) => unknown> = {
  'context.remoteAddress': (i) => contextFacts(i)['remoteAddress'],
  'connection.servername': (i) => i.connection.servername,
  'context.ageMs': (i) => contextFacts(i)['ageMs'],
  'request.headers.host': (i) => i.request?.headers.host,
  'context.risk': (i) => i.context['risk'],
  'token.scope': (i) => i.token?.['scope'],
};
const NAMES = Object.keys(FACTS);

const input = fc
  .record({
    cert: fc.nat({ max: CERTS.length - 1 }),
    token: fc.option(
      fc.record(
        {
          iss: fc.constantFrom('https://a.test', 'https://b.test'),
          sub: fc.option(fc.constantFrom('alice', 'bob'), { nil: undefined }),
          azp: fc.constantFrom('web', 'batch'),
          scope: fc.constantFrom('read', 'admin'),
          iat: fc.constant(1_700_000_000),
          exp: fc.constant(4_000_000_000),
        },
        { requiredKeys: ['iss', 'azp', 'scope', 'iat', 'exp'] },
      ),
      { nil: undefined },
    ),
    remoteAddress: fc.constantFrom('10.0.0.1', '10.0.0.2'),
    servername: fc.constantFrom('api.test', 'admin.test'),
    host: fc.constantFrom('api.test', 'internal.test'),
    ageMs: fc.constantFrom(0, 5, 60_000),
    risk: fc.constantFrom(0, 9),
    method: fc.constantFrom('GET', 'POST'),
    path: fc.constantFrom('/a', '/b'),
  })
  .map((r): AuthorizationInput => {
    const certificate = CERTS[r.cert];
    const i: AuthorizationInput = {
      trigger: 'request',
      peer: { chain: certificate ? [certificate] : [], verified: certificate !== undefined },
      connection: { remoteAddress: r.remoteAddress, servername: r.servername, ageMs: r.ageMs, reauthCount: 0 },
      request: { method: r.method, path: r.path, headers: { host: r.host } },
      context: { risk: r.risk },
    };
    if (certificate) i.peer.certificate = certificate;
    if (r.token) i.token = Object.fromEntries(Object.entries(r.token).filter(([, v]) => v !== undefined));
    return i;
  });

/** A policy that reads `reads` (and the identity, action and resource): a hash of what it saw. */
function makePolicy(reads: string[], declares: boolean, salt: number): PolicyAdapter {
  const decide = (i: AuthorizationInput) => {
    const seen = JSON.stringify([
      i.peer.certificate?.fingerprint256,
      i.token,
      i.request?.method,
      i.request?.path,
      ...reads.map((f) => FACTS[f]!(i)),
    ]);
    let h = salt;
    for (let k = 0; k < seen.length; k++) h = (h * 31 + seen.charCodeAt(k)) | 0;
    return { allow: (h & 1) === 1, reason: `h${h & 7}` };
  };
  return declares ? ({ evaluate: decide, factsRead: () => reads } as PolicyAdapter) : { evaluate: decide };
}

t.test('a cached policy answers every input as the policy does', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.subarray(NAMES),
      fc.boolean(),
      fc.integer(),
      fc.array(input, { minLength: 1, maxLength: 30 }),
      async (reads, declares, salt, inputs) => {
        const policy = makePolicy(reads, declares, salt);
        const wrapped = cached(policy, new DecisionCache());
        for (const i of inputs) {
          const direct = await evaluatePolicy(policy, i);
          const viaCache = await evaluatePolicy(wrapped, i);
          if (direct.allow !== viaCache.allow || direct.reason !== viaCache.reason) {
            throw new Error(
              `the cache answered ${viaCache.allow}/${viaCache.reason} (${viaCache.source}), ` +
                `the policy ${direct.allow}/${direct.reason}`,
            );
          }
        }
      },
    ),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} sequences`);
});

t.test('declared facts still give hits', async (t) => {
  const policy = makePolicy(['request.headers.host'], true, 1);
  const wrapped = cached(policy, new DecisionCache());
  const [one] = fc.sample(input, { numRuns: 1, seed: 7 });
  for (let k = 0; k < 5; k++) await evaluatePolicy(wrapped, one!);
  t.match(wrapped.cache.stats(), { hits: 4, misses: 1 });
});
