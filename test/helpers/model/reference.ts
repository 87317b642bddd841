/**
 * The reference model: what a continuous-authorization server must decide for a connection, from
 * first principles and nothing of the library's code. A client certificate is good when its path
 * reaches a root the connection's context trusts, no certificate on the path is revoked
 * (RFC 5280 section 6.3.3, intermediates included) and none has expired (section 4.1.2.5); the
 * policy then decides on the certificate's CN. Trust, revocation, policy and clock are those in
 * force at the moment asked.
 */
import type { AuthorizationInput, DecisionLike } from '../../../dist/index.js';
import type { Leaf, Tenant } from './pki';

export type PolicyKind = 'none' | 'allowAll' | 'denyAll' | 'denyCn';

export interface PolicySpec {
  readonly kind: PolicyKind;
  /** For denyCn: the common name refused. */
  readonly cn?: string;
  /** Answer after this many ms (an asynchronous policy); 0 = synchronous. */
  readonly slowMs: number;
}

/**
 * strict: requestCert + rejectUnauthorized (no certificate, no connection).
 * guest: requestCert without rejectUnauthorized; the policy lets certificate-less guests in unless
 * it denies everyone, and asks a certificate, once shown, to verify.
 */
export type ServerMode = 'strict' | 'guest';

export interface TrustState {
  /** Roots the default context (no SNI, 'localhost') trusts. */
  defaultCa: ReadonlySet<Tenant>;
  revokedLeaves: ReadonlySet<string>;
  revokedIntermediates: ReadonlySet<Tenant>;
  /** Leaf serials revoked by an outside feed (a fleet's guard), on top of the CRLs. */
  guardRevoked: ReadonlySet<string>;
  policy: PolicySpec;
  mode: ServerMode;
  /** Whether SNI names select per-tenant contexts, each trusting its own root only. */
  sniTenants: boolean;
}

/** The roots a connection served under `servername` is judged by. */
export function trustedRoots(state: TrustState, servername: string): ReadonlySet<Tenant> {
  if (state.sniTenants && servername === 'a.test') return new Set<Tenant>(['A']);
  if (state.sniTenants && servername === 'b.test') return new Set<Tenant>(['B']);
  return state.defaultCa;
}

export interface Verdict {
  allow: boolean;
  why: string;
}

/** Whether the chain of `leaf` verifies for a connection served under `servername`, at `now`. */
export function chainVerdict(state: TrustState, leaf: Leaf, servername: string, now: number): Verdict {
  if (!trustedRoots(state, servername).has(leaf.tenant))
    return { allow: false, why: `root ${leaf.tenant} not trusted for ${servername}` };
  if (state.revokedLeaves.has(leaf.serial)) return { allow: false, why: 'leaf revoked' };
  if (leaf.viaIntermediate && !leaf.ownIntermediate && state.revokedIntermediates.has(leaf.tenant))
    return { allow: false, why: `intermediate ${leaf.tenant} revoked` };
  if (leaf.intermediateNotAfter !== undefined && now >= leaf.intermediateNotAfter)
    return { allow: false, why: 'intermediate expired' };
  if (now >= leaf.notAfter) return { allow: false, why: 'leaf expired' };
  return { allow: true, why: 'chain good' };
}

/** The decision for a connection presenting `leaf` (null: no certificate). */
export function expected(state: TrustState, leaf: Leaf | null, servername: string, now: number): Verdict {
  const { policy } = state;
  if (leaf === null) {
    if (state.mode === 'strict') return { allow: false, why: 'no certificate' };
    return policy.kind === 'denyAll' ? { allow: false, why: 'policy denies all' } : { allow: true, why: 'guest' };
  }
  const chain = chainVerdict(state, leaf, servername, now);
  if (!chain.allow) return chain;
  if (state.guardRevoked.has(leaf.serial)) return { allow: false, why: 'revoked by the fleet' };
  if (policy.kind === 'denyAll') return { allow: false, why: 'policy denies all' };
  if (policy.kind === 'denyCn' && policy.cn === leaf.cn) return { allow: false, why: `policy denies ${leaf.cn}` };
  return { allow: true, why: 'allowed' };
}

/**
 * What node:tls verifies on its own, for a handshake the attachment no longer sees (after
 * detach()): the chain against the server's own CAs (roots A and B on the default context, each
 * tenant's root on its SNI context), with the clock, at the handshake only; no CRL, no policy, no
 * fleet guard. The attached tier's servers are strict (rejectUnauthorized).
 */
export function nodeTrust(sniTenants: boolean): TrustState {
  return {
    defaultCa: new Set<Tenant>(['A', 'B']),
    revokedLeaves: new Set(),
    revokedIntermediates: new Set(),
    guardRevoked: new Set(),
    policy: { kind: 'none', slowMs: 0 },
    mode: 'strict',
    sniTenants,
  };
}

/** The policy function the real servers run for `spec`: the same rule, written against the library's input. */
export function policyFor(
  spec: PolicySpec,
): undefined | ((input: AuthorizationInput) => DecisionLike | Promise<DecisionLike>) {
  if (spec.kind === 'none') return undefined;
  const decide = (input: AuthorizationInput): { allow: boolean; reason: string } => {
    const certificate = input.peer.certificate;
    if (spec.kind === 'denyAll') return { allow: false, reason: 'model: deny all' };
    if (certificate === undefined) return { allow: true, reason: 'model: guest' };
    // In guest mode the library hands unverified chains to the policy: they never pass.
    if (!input.peer.verified) return { allow: false, reason: 'model: unverified' };
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1];
    if (spec.kind === 'denyCn' && cn === spec.cn) return { allow: false, reason: `model: deny ${cn}` };
    return { allow: true, reason: 'model: allow' };
  };
  if (spec.slowMs === 0) return decide;
  return (input) => new Promise<DecisionLike>((resolve) => setTimeout(() => resolve(decide(input)), spec.slowMs));
}

export function describePolicy(spec: PolicySpec): string {
  const base = spec.kind === 'denyCn' ? `denyCn(${spec.cn})` : spec.kind;
  return spec.slowMs > 0 && spec.kind !== 'none' ? `${base}/slow${spec.slowMs}` : base;
}
