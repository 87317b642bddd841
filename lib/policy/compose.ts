/**
 * Combining policies. Constituents run one after another, in the order given, under the caller's
 * signal (the timeout of the evaluatePolicy call that asked the composition covers all of them), so
 * put cheap local policies before remote ones: evaluation stops as soon as the outcome is known.
 *
 * Semantics (the names follow XACML's combining algorithms loosely):
 * - allOf: deny-overrides. Allows only when every constituent allows; the first denial (or error)
 *   decides. An error propagates, so the composition fails closed with 'policy-error'.
 * - anyOf: permit-overrides. Allows when any constituent allows. A constituent that fails counts as
 *   not allowing; when none allows and one failed, that first error propagates.
 * - firstApplicable: the first constituent that is applicable decides. A constituent is NOT
 *   applicable when it answers undefined / null, or `{ allow: false, reason: 'not-applicable' }`.
 *   When none applies the composition itself answers `{ allow: false, reason: 'not-applicable' }`,
 *   so it nests inside another firstApplicable. An error stops evaluation and propagates.
 *
 * The composed decision expires at the earliest expiry among the constituents that were asked, and
 * obligations are merged in order (later constituents win on a key clash).
 */
import { invalidOption } from '../common/errors.js';
import type { ApplicablePolicy, AuthorizationInput, Policy, PolicyAdapter } from '../common/types.js';
import {
  askPolicy,
  evaluatesAsLibrary,
  isPolicy,
  normalizeDecision,
  policyName,
  runPolicy,
  type NormalizedDecision,
  type SourcedDecisionLike,
} from './evaluate.js';

export const NOT_APPLICABLE = 'not-applicable';

type Named = { policy: Policy; name: string };

export function allOf<C extends object = Record<string, unknown>>(...policies: Array<Policy<C>>): PolicyAdapter {
  const parts = check('allOf', policies as Policy[]);
  return adapter('allOf', parts, async (input, signal) => {
    const acc = new Accumulator();
    const reasons: string[] = [];
    for (const { policy, name } of parts) {
      const d = acc.add(await runPolicy(policy, input, signal, Date.now));
      if (!d.allow) return acc.result(false, `${name}: ${d.reason}`);
      reasons.push(`${name}: ${d.reason}`);
    }
    return acc.result(true, reasons.join('; '));
  });
}

export function anyOf<C extends object = Record<string, unknown>>(...policies: Array<Policy<C>>): PolicyAdapter {
  const parts = check('anyOf', policies as Policy[]);
  return adapter('anyOf', parts, async (input, signal) => {
    const acc = new Accumulator();
    const reasons: string[] = [];
    let firstError: unknown;
    let failed = false;
    for (const { policy, name } of parts) {
      let d: NormalizedDecision;
      try {
        d = acc.add(await runPolicy(policy, input, signal, Date.now));
      } catch (err) {
        // Never let a sibling's failure turn into an allow, but do not let it veto one either.
        signal.throwIfAborted();
        if (!failed) firstError = err;
        failed = true;
        continue;
      }
      if (d.allow) return acc.result(true, `${name}: ${d.reason}`);
      reasons.push(`${name}: ${d.reason}`);
    }
    if (failed) throw firstError;
    return acc.result(false, `none allowed (${reasons.join('; ')})`);
  });
}

export function firstApplicable<C extends object = Record<string, unknown>>(
  ...policies: Array<ApplicablePolicy<C>>
): PolicyAdapter {
  const parts = check('firstApplicable', policies as Policy[]);
  return adapter('firstApplicable', parts, async (input, signal) => {
    const acc = new Accumulator();
    for (const { policy, name } of parts) {
      const raw = await askPolicy(policy, input, signal);
      if (raw === undefined || raw === null) continue;
      const d = acc.add(normalizeDecision(raw, Date.now, name));
      if (!d.allow && d.reason === NOT_APPLICABLE) continue;
      return acc.result(d.allow, `${name}: ${d.reason}`);
    }
    return acc.result(false, NOT_APPLICABLE);
  });
}

/** Tracks the earliest expiry and the merged obligations of the constituents asked so far. */
class Accumulator {
  expiresAt = Infinity;
  obligations: Record<string, unknown> | undefined;

  add(d: NormalizedDecision): NormalizedDecision {
    if (d.expiresAt < this.expiresAt) this.expiresAt = d.expiresAt;
    if (d.obligations !== undefined) this.obligations = { ...this.obligations, ...d.obligations };
    return d;
  }

  result(allow: boolean, reason: string): SourcedDecisionLike {
    const out: SourcedDecisionLike = { allow, reason, expiresAt: this.expiresAt };
    if (this.obligations !== undefined) out.obligations = this.obligations;
    return out;
  }
}

function check(kind: string, policies: Policy[]): Named[] {
  if (policies.length === 0) throw invalidOption(`${kind}(…policies)`, 'at least one policy');
  return policies.map((policy, i) => {
    if (!isPolicy(policy)) throw invalidOption(`${kind}(…policies)[${i}]`, 'a policy function or adapter', policy);
    const name = policyName(policy);
    return { policy, name: name === 'anonymous' ? `#${i + 1}` : name };
  });
}

function adapter(
  kind: string,
  parts: Named[],
  evaluate: (input: AuthorizationInput, signal: AbortSignal) => Promise<SourcedDecisionLike>,
): PolicyAdapter {
  const composed: PolicyAdapter = {
    name: `${kind}(${parts.map((p) => p.name).join(', ')})`,
    evaluate(input: AuthorizationInput, signal?: AbortSignal) {
      // Called directly (not through evaluatePolicy) there is no signal: use one that never fires.
      return evaluate(input, signal ?? new AbortController().signal);
    },
    onChange(listener) {
      // A change in any constituent changes the composition.
      const offs = parts.flatMap(({ policy }) =>
        typeof policy === 'function' || !policy.onChange ? [] : [policy.onChange(listener)],
      );
      return () => {
        for (const off of offs) off();
      };
    },
    async close() {
      // A composition owns nothing but its constituents: closing it closes them.
      await Promise.all(parts.map(({ policy }) => (typeof policy === 'function' ? undefined : policy.close?.())));
    },
  };
  // Its constituents see the input through runPolicy and askPolicy, which tell the cache key.
  evaluatesAsLibrary(composed.evaluate);
  return composed;
}
