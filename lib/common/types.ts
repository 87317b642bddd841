import type { X509Certificate } from 'node:crypto';

/** What made the engine (re)decide a connection or a request. */
export type Trigger =
  | 'handshake'
  | 'interval'
  | 'expiry'
  | 'manual'
  | 'certificate'
  | 'revocation'
  | 'policy-change'
  | 'signals'
  | 'request';

export interface PeerInfo {
  /** The leaf certificate the peer presented (absent when it presented none). */
  certificate?: X509Certificate;
  /**
   * Leaf first: the chain verification built, up to the trust anchor, when the peer's chain verified;
   * otherwise the chain as presented (and `verified` is false).
   */
  chain: X509Certificate[];
  /** Whether the chain verified against the current trust store, CRLs and clock. */
  verified: boolean;
  /** The OpenSSL verification error code when not verified, e.g. 'CERT_REVOKED'. */
  verifyError?: string;
}

export interface ConnectionInfo {
  remoteAddress?: string;
  servername?: string | false;
  alpnProtocol?: string | false;
  protocol?: string | null;
  cipher?: string;
  ageMs: number;
  reauthCount: number;
}

export interface RequestInfo {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Everything a policy gets to decide on. `C` is the shape of the app's own signals in `context`
 * (what a `context` hook returns), so a policy reads them typed.
 */
export interface AuthorizationInput<C extends object = Record<string, unknown>> {
  trigger: Trigger;
  peer: PeerInfo;
  connection: ConnectionInfo;
  /** Present for REST per-request decisions. */
  request?: RequestInfo;
  /** Verified claims of a short-lived bearer token. */
  token?: Record<string, unknown>;
  /** App-supplied signals: risk score, device, location … */
  context: C;
  /**
   * Signals about the peer's subject from its identity provider, through a fleet (CAEP token
   * claims, assurance level, device compliance); absent when there are none.
   */
  signals?: Readonly<Record<string, unknown>>;
  /** Optional explicit action/resource (REST middleware fills them from the request). */
  action?: string;
  resource?: string;
}

/** Where a decision came from: the cache, the policy engine, or the chain check that ran before it. */
export type DecisionSource = 'cache' | 'engine' | 'verification' | 'fallback';

export interface Decision {
  allow: boolean;
  reason: string;
  trigger: Trigger;
  /** Epoch ms after which this decision lapses (Infinity = no expiry of its own). */
  expiresAt: number;
  source: DecisionSource;
  /** The leaf certificate the decision was made about, if any. */
  certificate?: X509Certificate;
  durationMs: number;
  /** Extra data a policy attached (obligations, diagnostics, a step-up challenge). */
  obligations?: Record<string, unknown>;
}

/** What a policy may return: a boolean, or a partial decision. */
export type DecisionLike =
  | boolean
  | {
      allow: boolean;
      reason?: string;
      /** Seconds-free TTL in ms: the decision lapses after it. */
      ttlMs?: number;
      /** Absolute expiry, epoch ms. */
      expiresAt?: number;
      obligations?: Record<string, unknown>;
    };

export type PolicyFunction<C extends object = Record<string, unknown>> = (
  input: AuthorizationInput<C>,
) => DecisionLike | Promise<DecisionLike>;

/**
 * An adapter object: anything with an evaluate method (Cedar, HTTP PDP, composed policies, caches).
 * Adapters read whatever context they are given, so one adapter serves every context shape.
 */
export interface PolicyAdapter {
  evaluate(input: AuthorizationInput<object>, signal?: AbortSignal): DecisionLike | Promise<DecisionLike>;
  /** Human-readable name used in audit events. */
  readonly name?: string;
  /** Adapters that can change (file watch, hot reload) call listeners so caches flush. */
  onChange?(listener: () => void): () => void;
  close?(): void | Promise<void>;
}

export type Policy<C extends object = Record<string, unknown>> = PolicyFunction<C> | PolicyAdapter;

/**
 * A constituent of `firstApplicable`: besides a decision it may answer `null` or `undefined`,
 * meaning "not mine, ask the next one". Anywhere else such an answer is a malformed decision
 * and denies (fail closed).
 */
export type ApplicablePolicy<C extends object = Record<string, unknown>> =
  | ((input: AuthorizationInput<C>) => DecisionLike | null | undefined | Promise<DecisionLike | null | undefined>)
  | PolicyAdapter;

/**
 * The listener type of an event that carries no arguments. Typed as taking `never` rather than
 * nothing, so a callback with parameters of its own, such as a promise's `resolve`, can still be
 * passed (`socket.once('drain', resolve)`), while `emit()` still refuses arguments for it.
 */
export type NoArgumentListener = (...args: never[]) => void;
