/**
 * The fleet's public shapes: the events on the shared feed, the options of createFleet() and what
 * a Fleet offers. Kept apart from the implementation so the CAEP receiver, the CLI and the docs
 * name the same contract.
 */
import type { EventEmitter } from 'node:events';
import type { GuardFacts } from '../authz/guard.js';
import type { SubjectIdentifier } from './subject-id.js';

export type { SubjectIdentifier } from './subject-id.js';

/** Events on the feed. Every process applies each one exactly once, in feed order. */
export type FleetEvent =
  CertificateRevokedEvent | CrlEvent | SubjectRevokedEvent | SignalsEvent | PolicyInvalidatedEvent;

/** A certificate (leaf or intermediate) is revoked by serial, under one issuer or (without) any. */
export interface CertificateRevokedEvent {
  type: 'certificate-revoked';
  /** Hex, any case, colons allowed; compared without leading zeros. */
  serial: string;
  /** The issuer's distinguished name as node prints it (`X509Certificate#issuer`). */
  issuer?: string;
  reason?: string;
  /**
   * Epoch ms after which the entry denies nothing and is forgotten (the certificate's notAfter);
   * without it, the revocation is kept for the fleet's life.
   */
  expiresAt?: number;
}

/** A CRL for every watching process: applied through setCrl() beside each target's own CRLs. */
export interface CrlEvent {
  type: 'crl';
  pem: string;
}

/**
 * Sessions of a subject established before `before` are cut (CAEP session-revoked, credential-change).
 * A session is its credential's life: a certificate's from its notBefore, a token's from its iat.
 */
export interface SubjectRevokedEvent {
  type: 'subject-revoked';
  subject: SubjectIdentifier;
  /** Epoch ms: credentials issued before it (certificates by notBefore, tokens by iat) are refused. */
  before: number;
  reason?: string;
  /** Epoch ms after which the entry denies nothing and is forgotten; without it, it is kept. */
  expiresAt?: number;
}

/**
 * New facts about a subject for policies to read as `input.signals` (CAEP token-claims-change,
 * assurance-level-change, device-compliance-change); the connections it names are re-decided.
 */
export interface SignalsEvent {
  type: 'signals';
  subject: SubjectIdentifier;
  /** At most 4 KB as JSON; each member (signal name) is kept per subject key, the latest by `at`. */
  signals: Record<string, unknown>;
  /**
   * Epoch ms the facts were issued at (CAEP: the event's event_timestamp). A signal never replaces
   * one of the same name and subject issued later, whatever order the events arrive in. Default:
   * when the event is published.
   */
  at?: number;
  /** Epoch ms after which the signals are forgotten (default: 24 hours after `at`). */
  expiresAt?: number;
}

/** Flush every decision cache and re-decide every connection (a policy changed somewhere). */
export interface PolicyInvalidatedEvent {
  type: 'policy-invalidated';
  reason?: string;
}

/** An event as it sits on the feed. */
export interface FleetEntry {
  /** The feed's entry id (a Redis stream id): total order of the fleet. */
  id: string;
  /** Epoch ms on the publisher's clock. */
  at: number;
  /** The member that published it. */
  origin: string;
  event: FleetEvent;
}

/** What a publish resolves with, once the event is on the feed and applied in this process. */
export interface FleetReceipt {
  id: string;
  /** Decisions this process made again because of it. */
  decisions: number;
}

/** Maps a peer to its subject identifiers (default: email/URI SANs, token iss+sub and email). */
export type SubjectMapper = (
  peer: GuardFacts,
) => Array<SubjectIdentifier | { subject: SubjectIdentifier; since: number }>;

export type StalenessMode = 'strict' | 'best-effort';

/** A Redis connection: a URL (`redis://`, `rediss://`), ioredis options, or an ioredis client to duplicate. */
export type RedisTarget = string | Record<string, unknown> | { duplicate(): unknown };

export interface FleetOptions {
  redis: RedisTarget;
  /** The fleet's name: processes with the same Redis and name share one feed (default 'default'). */
  name?: string;
  /** How long the feed may go unheard before decisions are judged stale (ms, default 30 000). */
  maxStaleness?: number;
  /** What a stale fleet does: 'strict' (default) denies new and lapsing decisions, 'best-effort' warns. */
  staleness?: StalenessMode;
  /** How long createFleet() waits for the first load of state (ms, default 10 000). */
  connectTimeout?: number;
  /**
   * About how many entries the stream keeps (default 10 000; Redis trims in whole nodes, MAXLEN ~).
   * Only entries the snapshot already holds are trimmed; a member that fell further behind reloads it.
   */
  maxEntries?: number;
  subjects?: SubjectMapper;
}

export interface FleetStatus {
  name: string;
  member: string;
  /** The last entry applied. */
  lastEventId: string | null;
  /** Epoch ms the feed was last heard. */
  lastContactAt: number;
  stale: boolean;
  watching: number;
  revokedSerials: number;
  revokedSubjects: number;
  crls: number;
}

/** Anything fleet.watch() accepts: an owned Server, an Attachment, a RequestAuthorizer. */
export type FleetTarget = object;

export interface Fleet extends EventEmitter {
  readonly name: string;
  readonly member: string;
  watch(target: FleetTarget): this;
  unwatch(target: FleetTarget): this;
  revokeCertificate(revocation: Omit<CertificateRevokedEvent, 'type'>): Promise<FleetReceipt>;
  publishCrl(pem: string | Buffer): Promise<FleetReceipt>;
  revokeSubject(subject: SubjectIdentifier, options?: { before?: number; reason?: string }): Promise<FleetReceipt>;
  invalidatePolicy(reason?: string): Promise<FleetReceipt>;
  publish(event: FleetEvent): Promise<FleetReceipt>;
  status(): FleetStatus;
  /**
   * True the first time `id` is claimed in `namespace` within `ttlMs`, across the whole fleet (the
   * CAEP receiver's `jti` replay check); false for a replay.
   */
  claimOnce(namespace: string, id: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}
