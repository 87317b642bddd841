/**
 * What a fleet knows (revoked serials, revoked subjects, subjects' signals, shared CRLs) and the
 * DecisionGuard that judges peers against it.
 *
 * The state is built only from StateOps (events.ts), the same operations the feed's snapshot
 * applies, and is indexed for the guard: a peer is judged by lookups of its chain's serials and its
 * identifiers, never by a scan, so 100,000 revoked serials cost a decision what 10 do.
 */
import type { X509Certificate } from 'node:crypto';
import { ctlsError } from '../common/errors.js';
import { setOwn } from '../common/own.js';
import type { DecisionGuard, GuardFacts, GuardVerdict } from '../authz/guard.js';
import {
  crlSerials,
  EXPIRING_HASHES,
  expiryOf,
  leadingNumber,
  normalizeIssuer,
  normalizeSerial,
  parseCrlField,
  secondNumber,
  type StateHash,
  type StateOp,
} from './events.js';
import { defaultIdentifiers, emailKey, normalKey, subjectKeys } from './subject-id.js';
import type { SubjectMapper } from './types.js';

/** A revocation entry of one serial: its issuer ('' for any) and when it may be forgotten. */
type SerialEntries = Map<string, number>;

/** A subject key's signal of one name: when it was issued, until when it holds, and where its value is. */
interface SignalRef {
  at: number;
  expiresAt: number;
  digest: string;
}

/** The signals of one event, stored once however many identifiers it names. */
interface StoredSignals {
  expiresAt: number;
  signals: Record<string, unknown>;
}

/**
 * How often a member may prune a hash's expired entries from its copy (expired ones are never read
 * anyway); sooner once the hash has doubled since, so a burst of short-lived entries cannot pile up
 * for the whole interval and each prune's cost is paid by the entries added since the last one.
 */
const PRUNE_INTERVAL_MS = 60_000;

interface SharedCrl {
  lastUpdate: number;
  pem: string;
  serials: Set<string>;
}

export class FleetState {
  /** Raw fields per hash, as the feed's snapshot holds them. */
  readonly #raw = new Map<StateHash, Map<string, string>>([
    ['serials', new Map()],
    ['subjects', new Map()],
    ['signals', new Map()],
    ['crls', new Map()],
  ]);
  /** serial -> issuer ('' = any) -> expiresAt. */
  readonly #serials = new Map<string, SerialEntries>();
  /** subject key -> expiresAt -> before. */
  readonly #subjects = new Map<string, Map<number, number>>();
  /** subject key -> signal name -> reference to the event's signals. */
  readonly #signals = new Map<string, Map<string, SignalRef>>();
  /** digest -> the signals of one event. */
  readonly #signalValues = new Map<string, StoredSignals>();
  /**
   * Per expiring hash: the earliest expiry of its fields (or earlier), when it may be pruned next, and
   * its size after the last prune.
   */
  readonly #earliest = new Map<StateHash, number>();
  readonly #nextPrune = new Map<StateHash, number>();
  readonly #prunedSize = new Map<StateHash, number>();
  /** issuer -> CRL identity (see SharedCrlBlock) -> the latest CRL of that issuer and identity. */
  readonly #crls = new Map<string, Map<string, SharedCrl>>();

  /**
   * Applies one operation; false when the `max` rule kept the field as it was, or when an `expire`
   * step pruned nothing (true: it dropped the fields of the hash that expired before `now`).
   */
  apply(op: StateOp, now = Date.now()): boolean {
    const raw = this.#raw.get(op.hash)!;
    if (op.rule === 'expire') return this.#prune(op.hash, now);
    if (op.rule === 'max') {
      // As the feed's script: only a larger number keeps the field; a value without one is replaced.
      const current = raw.get(op.field);
      if (current !== undefined && leadingNumber(current) > leadingNumber(op.value)) return false;
    }
    raw.set(op.field, op.value);
    this.#index(op.hash, op.field, op.value);
    return true;
  }

  /** Replaces everything with a snapshot's hashes (field -> value). */
  load(hashes: ReadonlyMap<StateHash, ReadonlyMap<string, string>>): void {
    for (const raw of this.#raw.values()) raw.clear();
    this.#serials.clear();
    this.#subjects.clear();
    this.#signals.clear();
    this.#signalValues.clear();
    this.#crls.clear();
    this.#earliest.clear();
    this.#nextPrune.clear();
    this.#prunedSize.clear();
    for (const [hash, fields] of hashes)
      for (const [field, value] of fields) this.apply({ hash, field, value, rule: 'set' });
  }

  #index(hash: StateHash, field: string, value: string): void {
    const expiresAt = expiryOf(hash, field, value);
    if (expiresAt < (this.#earliest.get(hash) ?? Infinity)) this.#earliest.set(hash, expiresAt);
    switch (hash) {
      case 'serials': {
        const [serial, issuer] = JSON.parse(value.slice(value.indexOf('\n') + 1)) as [string, string?];
        // Normalised again (normalizeIssuer is idempotent): a snapshot written in any spelling
        // indexes as the live entries do.
        const key = issuer === undefined ? '' : normalizeIssuer(issuer);
        let entries = this.#serials.get(serial);
        if (entries === undefined) this.#serials.set(serial, (entries = new Map()));
        // Two fields of one serial and issuer (spelled apart) keep the later expiry, in whatever
        // order they are indexed: indexing again after a prune never shortens a revocation.
        const previous = entries.get(key);
        if (previous === undefined || Number.isNaN(previous) || expiresAt > previous) entries.set(key, expiresAt);
        return;
      }
      case 'subjects': {
        const [stored, expiresAt] = JSON.parse(field) as [string, number | null];
        // Keyed again: a snapshot's older spelling of a key still meets the peers' keys. Two fields
        // may then share a key and expiry; the later `before` is kept, whichever is indexed first.
        const key = normalKey(stored);
        let entries = this.#subjects.get(key);
        if (entries === undefined) this.#subjects.set(key, (entries = new Map()));
        const previous = entries.get(expiresAt ?? Infinity);
        const before = Number(value);
        if (previous === undefined || !(previous >= before)) entries.set(expiresAt ?? Infinity, before);
        return;
      }
      case 'signals':
        this.#indexSignal(field, value);
        return;
      case 'crls': {
        const pem = value.slice(value.indexOf('\n') + 1);
        const { issuer, identity } = parseCrlField(field);
        const key = normalizeIssuer(issuer);
        let crls = this.#crls.get(key);
        if (crls === undefined) this.#crls.set(key, (crls = new Map()));
        crls.set(identity, { lastUpdate: leadingNumber(value), pem, serials: new Set(crlSerials(pem)) });
        return;
      }
    }
  }

  /** Indexes a signals field; one that does not read as stateOps() writes it is ignored. */
  #indexSignal(field: string, value: string): void {
    const at = leadingNumber(value);
    const expiresAt = secondNumber(value);
    if (Number.isNaN(at) || Number.isNaN(expiresAt)) return;
    const rest = value.slice(value.indexOf('\n', value.indexOf('\n') + 1) + 1);
    try {
      if (field.startsWith('=')) {
        const signals = JSON.parse(rest) as unknown;
        if (signals !== null && typeof signals === 'object' && !Array.isArray(signals))
          this.#signalValues.set(field.slice(1), { expiresAt, signals: signals as Record<string, unknown> });
        return;
      }
      const [stored, name] = JSON.parse(field) as unknown[];
      if (typeof stored !== 'string' || typeof name !== 'string') return;
      // Keyed again as subjects are; of two fields meeting under one key, the signal issued later
      // wins. At one moment the one indexed last does, as a field's own update (applied after the
      // `max` rule kept it) must.
      const key = normalKey(stored);
      let refs = this.#signals.get(key);
      if (refs === undefined) this.#signals.set(key, (refs = new Map()));
      const previous = refs.get(name);
      if (previous === undefined || !(previous.at > at)) refs.set(name, { at, expiresAt, digest: rest });
    } catch {
      // Not JSON: not a field stateOps() writes.
    }
  }

  /**
   * Drops the fields of `hash` that expired before `now` and indexes the rest again: only once one
   * has expired, and at most once a PRUNE_INTERVAL_MS unless the hash has doubled since. The guard
   * reads an entry only while its expiry is after `now`, so nothing dropped still denies or holds on
   * this member's clock.
   */
  #prune(hash: StateHash, now: number): boolean {
    if (!EXPIRING_HASHES.includes(hash) || !((this.#earliest.get(hash) ?? Infinity) < now)) return false;
    const raw = this.#raw.get(hash)!;
    if (now < (this.#nextPrune.get(hash) ?? -Infinity) && raw.size < 2 * (this.#prunedSize.get(hash) ?? 0))
      return false;
    this.#nextPrune.set(hash, now + PRUNE_INTERVAL_MS);
    for (const [field, value] of raw) if (expiryOf(hash, field, value) < now) raw.delete(field);
    this.#prunedSize.set(hash, raw.size);
    if (hash === 'serials') this.#serials.clear();
    else if (hash === 'subjects') this.#subjects.clear();
    else {
      this.#signals.clear();
      this.#signalValues.clear();
    }
    this.#earliest.delete(hash);
    for (const [field, value] of raw) this.#index(hash, field, value);
    return true;
  }

  /** Whether `serial` issued by `issuer` is revoked at `now` (by an entry or a shared CRL). */
  serialRevoked(serial: string, issuer: string, now: number): boolean {
    const entries = this.#serials.get(serial);
    if (entries !== undefined) {
      const any = entries.get('');
      if (any !== undefined && any > now) return true;
      const scoped = entries.get(issuer);
      if (scoped !== undefined && scoped > now) return true;
    }
    // Every current CRL of the issuer: each shard, each key's, lists its own part of the revocations.
    const crls = this.#crls.get(issuer);
    if (crls !== undefined) for (const crl of crls.values()) if (crl.serials.has(serial)) return true;
    return false;
  }

  /** Whether a session of the subject under `key` that began at `since` is revoked at `now`. */
  subjectRevoked(key: string, since: number, now: number): boolean {
    const entries = this.#subjects.get(key);
    if (entries === undefined) return false;
    for (const [expiresAt, before] of entries) if (expiresAt > now && since < before) return true;
    return false;
  }

  /** The signals of the subject under `key` that hold at `now`, each the latest issued of its name. */
  signalsOf(key: string, now: number): Record<string, unknown> | undefined {
    const latest: LatestSignals = new Map();
    this.collectSignals(key, now, latest);
    return signalsObject(latest);
  }

  /**
   * Adds the signals of the subject under `key` that hold at `now` to `latest`, each only where it
   * was issued later than the one of its name `latest` holds: a peer known by several identifiers
   * gets, for each name, the signal issued last under any of them.
   */
  collectSignals(key: string, now: number, latest: LatestSignals): void {
    const refs = this.#signals.get(key);
    if (refs === undefined) return;
    for (const [name, ref] of refs) {
      if (!(ref.expiresAt > now)) continue;
      const stored = this.#signalValues.get(ref.digest);
      if (stored === undefined || !Object.hasOwn(stored.signals, name)) continue;
      const held = latest.get(name);
      if (held === undefined || ref.at > held.at) latest.set(name, { at: ref.at, value: stored.signals[name] });
    }
  }

  /** The shared CRLs, latest per issuer and identity. */
  crlPems(): Buffer[] {
    const pems: Buffer[] = [];
    for (const crls of this.#crls.values()) for (const crl of crls.values()) pems.push(Buffer.from(crl.pem, 'latin1'));
    return pems;
  }

  get counts(): { revokedSerials: number; revokedSubjects: number; crls: number } {
    return {
      revokedSerials: this.#raw.get('serials')!.size,
      revokedSubjects: this.#subjects.size,
      crls: this.#raw.get('crls')!.size,
    };
  }
}

/** A chain certificate's serial and issuer in normal form, computed once per certificate object. */
const certFacts = new WeakMap<X509Certificate, { serial: string; issuer: string }>();

function factsOf(cert: X509Certificate): { serial: string; issuer: string } {
  let facts = certFacts.get(cert);
  if (facts === undefined) {
    facts = { serial: normalizeSerial(cert.serialNumber) ?? cert.serialNumber, issuer: normalizeIssuer(cert.issuer) };
    certFacts.set(cert, facts);
  }
  return facts;
}

/** What a stale fleet does to decisions. */
export interface Staleness {
  readonly stale: boolean;
  readonly strict: boolean;
}

/** A peer identifier with the start of the session it identifies. */
interface TimedKey {
  key: string;
  since: number;
  /**
   * Whether the subject's signals reach the peer through this identifier. Revocations match every
   * identifier a peer claims (matching more only cuts more); signals are facts that can admit, so
   * an email a token does not say is verified brings none (anyone may claim an address).
   */
  signals: boolean;
}

/** Per signal name, the latest issued of the signals a peer's identifiers bring. */
type LatestSignals = Map<string, { at: number; value: unknown }>;

function signalsObject(latest: LatestSignals): Record<string, unknown> | undefined {
  if (latest.size === 0) return undefined;
  const out: Record<string, unknown> = {};
  // A signal named __proto__ stays data.
  for (const [name, { value }] of latest) setOwn(out, name, value);
  return out;
}

/** Whether a token says its email claim is verified (OpenID Connect's email_verified). */
function emailVerified(token: Readonly<Record<string, unknown>>): boolean {
  const verified = token['email_verified'];
  // Some providers send the claim as a string.
  return verified === true || verified === 'true';
}

/**
 * The fleet's guard: denies a peer whose chain holds a revoked serial ('certificate-revoked'),
 * whose identifiers are revoked for a session of its age ('subject-revoked'), or any peer while a
 * strict fleet is stale ('fleet-stale'); otherwise hands the policy its subjects' signals.
 */
export class FleetGuard implements DecisionGuard {
  #generation = 0;
  readonly #state: FleetState;
  readonly #staleness: Staleness;
  readonly #mapper: SubjectMapper | undefined;

  constructor(state: FleetState, staleness: Staleness, mapper?: SubjectMapper) {
    this.#state = state;
    this.#staleness = staleness;
    this.#mapper = mapper;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Something the guard answers from changed. */
  bump(): void {
    this.#generation++;
  }

  judge(facts: GuardFacts, now: number): GuardVerdict {
    if (this.#staleness.stale && this.#staleness.strict) {
      return {
        deny: 'fleet-stale',
        error: ctlsError('ERR_CTLS_FLEET_STALE', 'The fleet feed has not been heard for longer than maxStaleness'),
      };
    }
    for (const cert of facts.chain) {
      const { serial, issuer } = factsOf(cert);
      if (this.#state.serialRevoked(serial, issuer, now)) return { deny: 'certificate-revoked' };
    }
    const latest: LatestSignals = new Map();
    for (const { key, since, signals } of this.#identifiers(facts)) {
      if (this.#state.subjectRevoked(key, since, now)) return { deny: 'subject-revoked' };
      if (signals) this.#state.collectSignals(key, now, latest);
    }
    const signals = signalsObject(latest);
    return signals === undefined ? {} : { signals };
  }

  keys(facts: GuardFacts): string[] {
    const keys = facts.chain.map((cert) => `serial:${factsOf(cert).serial}`);
    for (const { key } of this.#identifiers(facts)) keys.push(key);
    return [...new Set(keys)];
  }

  /**
   * The peer's identifiers, each with the start of the session it names. A session is the
   * credential's life: a token's from its `iat`, a certificate's from its notBefore. So a subject
   * revoked at T refuses every credential issued before T, on live connections and on new ones
   * alike; a client that merely reconnects with the same certificate is refused again, and only a
   * credential issued after T is admitted.
   */
  #identifiers(facts: GuardFacts): TimedKey[] {
    const token = facts.token;
    const iat = token?.['iat'];
    // A token without iat cannot show it began after anything.
    const tokenSince = typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 : -Infinity;
    const leaf = facts.chain[0];
    const certificateSince = leaf === undefined ? facts.connectionSince : notBeforeOf(leaf);
    if (this.#mapper === undefined) {
      const email = token?.['email'];
      const unverifiedEmail =
        token !== undefined && typeof email === 'string' && !emailVerified(token) ? emailKey(email) : undefined;
      return defaultIdentifiers(leaf, token).map(({ key, source }) => ({
        key,
        since: source === 'token' ? tokenSince : certificateSince,
        signals: !(source === 'token' && key === unverifiedEmail),
      }));
    }
    const out: TimedKey[] = [];
    for (const item of this.#mapper(facts)) {
      const timed = 'subject' in item && typeof item.since === 'number';
      const subject = timed ? item.subject : item;
      const since = timed ? item.since : Math.min(certificateSince, token === undefined ? Infinity : tokenSince);
      // The app's mapper chose these identifiers: they bring signals as they are. Exact: one that
      // cannot be keyed whole throws, and the peer is denied (guard-error).
      for (const key of subjectKeys(subject, 'peer')) out.push({ key, since, signals: true });
    }
    return out;
  }
}

/** A certificate's notBefore in epoch ms, parsed once per certificate object. */
const notBefores = new WeakMap<object, number>();

function notBeforeOf(certificate: X509Certificate): number {
  let at = notBefores.get(certificate);
  if (at === undefined) {
    at = Date.parse(certificate.validFrom);
    // An unparsable date cannot show the certificate is newer than a revocation.
    if (Number.isNaN(at)) at = -Infinity;
    notBefores.set(certificate, at);
  }
  return at;
}
