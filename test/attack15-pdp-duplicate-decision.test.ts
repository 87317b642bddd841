/**
 * Attack: the decision point's answer names `decision` twice, `{"decision":false,"decision":true}`.
 * RFC 8259 leaves the meaning of duplicate names undefined: many parsers (Go's encoding/json, Jackson
 * with its default, Python's json) keep the last, others the first or refuse. A PDP, a gateway or a
 * logging proxy in front of it that reads the first member records a denial, while continuous-tls
 * (JSON.parse keeps the last) admits the request. The same for the batch answer's evaluations and for
 * a `decision` duplicated inside one evaluation.
 *
 * A correct library takes a decision only from an unambiguous answer: a body that names `decision`
 * (or `evaluations`) more than once is ERR_CTLS_PDP_MALFORMED and the request is denied, as the
 * library already refuses number literals JSON.parse would round.
 *
 * Attack class: lossy conversion / ambiguous input decides an allow (fail-open on a parser
 * differential).
 */
import t from 'tap';
import { evaluatePolicy } from '../dist/policy/evaluate.js';
import { authzenPolicy } from '../dist/policy/http-pdp.js';
import { tokenInput } from './helpers/policy-input';
import { fakeServer } from './helpers/policy-pdp';

t.test('an answer naming "decision" twice is not an allow', async (t) => {
  const fake = await fakeServer(t, (_path, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"decision":false,"decision":true}');
  });
  const policy = authzenPolicy({ url: fake.url, timeoutMs: 2_000 });
  t.teardown(() => policy.close());
  const d = await evaluatePolicy(policy, tokenInput({ sub: 'mallory' }), { timeoutMs: 2_000 });
  t.equal(d.allow, false, 'denied');
  t.match(d, { error: { code: 'ERR_CTLS_PDP_MALFORMED' } }, 'as a malformed answer');
});
