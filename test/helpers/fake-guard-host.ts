/**
 * A GuardHost without an engine: it records what a fleet asks of it (re-checks by key, policy
 * flushes, shared CRLs) and judges its peers with the guards it was given, so fleet tests can
 * assert which peers a fleet event would cut without a TLS server.
 */
import { X509Certificate } from 'node:crypto';
import { GuardSet, kGuardHost, type DecisionGuard, type GuardFacts, type GuardHost } from '../../dist/authz/guard.js';
import type { Decision, Trigger } from '../../dist/common/types.js';

export interface FakeHost extends GuardHost {
  readonly guards: GuardSet;
  readonly rechecks: Array<{ keys: string[]; trigger: Trigger }>;
  readonly invalidations: number;
  readonly crlSets: Buffer[][];
  /** Peers the host "holds": re-checks answer one decision per peer indexed under a key. */
  peers: GuardFacts[];
  judge(facts: GuardFacts, now?: number): ReturnType<DecisionGuard['judge']>;
}

/** A target object a fleet can watch. */
export function fakeTarget(): { target: object; host: FakeHost } {
  const guards = new GuardSet();
  let invalidations = 0;
  const host: FakeHost = {
    kind: 'server',
    guards,
    rechecks: [],
    crlSets: [],
    peers: [],
    get invalidations() {
      return invalidations;
    },
    addGuard: (guard) => void guards.add(guard),
    removeGuard: (guard) => void guards.remove(guard),
    async recheckKeys(keys, trigger) {
      const list = [...keys];
      host.rechecks.push({ keys: list, trigger });
      const hit = host.peers.filter((peer) => guards.keys(peer).some((key) => list.includes(key)));
      return hit.map(() => ({}) as Decision);
    },
    async invalidatePolicy() {
      invalidations++;
      return host.peers.map(() => ({}) as Decision);
    },
    async setSharedCrls(pems) {
      host.crlSets.push([...pems]);
      return [];
    },
    get connectionCount() {
      return host.peers.length;
    },
    judge: (facts, now = Date.now()) => guards.judge(facts, now),
  };
  return { target: { [kGuardHost]: host }, host };
}

export function facts(chain: Array<string | Buffer | X509Certificate>, extra: Partial<GuardFacts> = {}): GuardFacts {
  return {
    chain: chain.map((c) => (c instanceof X509Certificate ? c : new X509Certificate(c))),
    token: undefined,
    connectionSince: Date.now(),
    tier: 'owned',
    ...extra,
  };
}
