/**
 * createFleet(): one process's membership of a fleet. It loads the fleet's state (snapshot, then
 * the stream after it) before it resolves, follows the stream in order, and drives the hosts it
 * watches: re-decides the connections an event affects, shares the fleet's CRLs, flushes policy
 * caches on request. Its guard is consulted by every decision of every watched host.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ctlsError, emitWarning, invalidOption } from '../common/errors.js';
import { checkDuration, checkFunction, checkObject, checkOneOf, checkString, checkCount } from '../common/validate.js';
import type { Decision } from '../common/types.js';
import { guardHostOf, type GuardHost } from '../authz/guard.js';
import {
  affectedKeys,
  checkEvent,
  expiryOf,
  splitCrls,
  stateOps,
  STATE_HASHES,
  type StateHash,
  type StateOp,
} from './events.js';
import { Feed, unavailable, within, type RawEntry } from './feed.js';
import { FleetGuard, FleetState } from './state.js';
import type {
  CertificateRevokedEvent,
  Fleet,
  FleetEntry,
  FleetEvent,
  FleetOptions,
  FleetReceipt,
  FleetStatus,
  FleetTarget,
  StalenessMode,
  SubjectIdentifier,
  SubjectMapper,
} from './types.js';
import { timerDelay } from '../common/timers.js';

const READ_BATCH = 500;
const HEARTBEAT_MS = 1000;
/** A member silent this long is dropped from the members hash (it shows as not seen meanwhile). */
const FORGET_AFTER_MS = 10 * 60_000;
/** Every this many heartbeats, one member sweeps the members hash. */
const SWEEP_EVERY = 60;
/** How long close() waits to leave the members hash and for the reader to stop. */
const LEAVE_WAIT_MS = 500;
const DEFAULT_MAX_ENTRIES = 10_000;
const MAX_CLAIM_CHARS = 1024;
/** Receipts kept for entries this member published that the reader applied before the reply came. */
const RECENT_RECEIPTS = 1024;
/** State fields written back per script call when a member republishes its state to a recreated feed. */
const RESTORE_BATCH = 500;
/**
 * How a snapshot's field merges into what a member holds, and a member's field into a feed that lost
 * its data: every field keeps the later of the two, as the publish script does. A signal's reference
 * keeps the later `at`, so an older signal that reached the feed first (a retried SET) never replaces
 * a newer one; a signals `=digest` field names its content, so two values of it are equal anyway.
 */
const MERGE_RULE: Record<StateHash, StateOp['rule']> = {
  serials: 'max',
  subjects: 'max',
  signals: 'max',
  crls: 'max',
};

/** Whether a state field has expired (a revocation or signal past its expiry; see expiryOf()). */
function expired(hash: StateHash, field: string, value: string, now: number): boolean {
  return expiryOf(hash, field, value) < now;
}

/** An entry's sequence number; undefined for an entry a fleet did not write. */
function sequenceOf(entry: RawEntry): number | undefined {
  const n = Number(entry.fields['n']);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/** Compares two stream ids ('ms-seq'). */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

/** Keys of signals entries waiting to be re-decided together on one host. */
interface SignalsBatch {
  keys: Set<string>;
  done: Promise<Decision[]>;
}

interface Settings {
  name: string;
  maxStaleness: number;
  staleness: StalenessMode;
  connectTimeout: number;
  maxEntries: number;
  subjects: SubjectMapper | undefined;
}

function settingsOf(options: FleetOptions): Settings {
  checkObject('options', options as FleetOptions | undefined);
  if (options === undefined) throw invalidOption('options', 'an object with a redis option');
  const redis = options.redis as unknown;
  if (!(typeof redis === 'string' && redis.length > 0) && (redis === null || typeof redis !== 'object'))
    throw invalidOption('redis', 'a redis:// URL, ioredis options or an ioredis client', redis);
  const name = checkString('name', options.name, { nonEmpty: true }) ?? 'default';
  // Braces would break the hash tag that keeps every key of the fleet in one Cluster slot.
  if (!/^[A-Za-z0-9._:-]{1,100}$/.test(name))
    throw invalidOption('name', 'letters, digits and . _ : - (at most 100)', name);
  return {
    name,
    maxStaleness: checkDuration('maxStaleness', options.maxStaleness, 30_000, { infinite: true }),
    staleness: checkOneOf('staleness', options.staleness, ['strict', 'best-effort'] as const, 'strict'),
    connectTimeout: checkDuration('connectTimeout', options.connectTimeout, 10_000),
    maxEntries: checkCount('maxEntries', options.maxEntries, DEFAULT_MAX_ENTRIES),
    subjects: checkFunction<SubjectMapper>('subjects', options.subjects),
  };
}

/** Joins the fleet: resolves once this process holds the fleet's current state. */
export async function createFleet(options: FleetOptions): Promise<Fleet> {
  const fleet = new FleetMember(options);
  await fleet.start();
  return fleet;
}

class FleetMember extends EventEmitter implements Fleet {
  readonly name: string;
  readonly member: string;
  readonly #settings: Settings;
  readonly #feed: Feed;
  readonly #state = new FleetState();
  readonly #staleness = { stale: false, strict: true };
  readonly #guard: FleetGuard;
  readonly #hosts = new Map<object, GuardHost>();
  /**
   * The state's fields as the feed stores them (the strings FleetState holds, shared, not copied):
   * what this member writes back to a feed that lost them.
   */
  readonly #fields = new Map<StateHash, Map<string, string>>(STATE_HASHES.map((hash) => [hash, new Map()]));
  /** Per watched host: the signals re-decision running and the batch of keys waiting for it. */
  readonly #signalDrains = new WeakMap<GuardHost, { running: Promise<Decision[]>; queued?: SignalsBatch }>();
  /** The watched hosts' work for the entries applied so far, finished in feed order. */
  #effects: Promise<void> = Promise.resolve();
  #lastId = '0-0';
  /** The last entry whose effects on the watched targets are complete (a publish resolves after it). */
  #doneId = '0-0';
  #seq = 0;
  #epoch: string | null = null;
  /** When the member last caught up with the feed: wall clock for status(), monotonic for staleness. */
  #lastContactAt = 0;
  #lastContactMono = 0;
  #closed = false;
  #reading: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];
  /** Publishes of this member waiting for their entry to be applied here. */
  readonly #waiting = new Map<string, { resolve: (r: FleetReceipt) => void; reject: (e: Error) => void }>();
  readonly #receipts = new Map<string, FleetReceipt>();

  constructor(options: FleetOptions) {
    super();
    this.#settings = settingsOf(options);
    this.name = this.#settings.name;
    this.member = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#staleness.strict = this.#settings.staleness === 'strict';
    this.#guard = new FleetGuard(this.#state, this.#staleness, this.#settings.subjects);
    this.#feed = new Feed(options.redis, this.name, this.#settings.connectTimeout);
  }

  /** Loads the snapshot and the stream after it, then follows the stream. */
  async start(): Promise<void> {
    const deadline = Date.now() + this.#settings.connectTimeout;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no state within connectTimeout (${this.#settings.connectTimeout} ms)`)),
        timerDelay(this.#settings.connectTimeout),
      );
    });
    try {
      await Promise.race([this.#load(deadline), timeout]);
    } catch (error) {
      this.#closed = true;
      await this.#feed.close();
      throw unavailable('could not load the fleet state', error);
    } finally {
      clearTimeout(timer);
    }
    this.#caughtUp();
    this.#reading = this.#follow();
    const check = Math.max(10, Math.min(1000, this.#settings.maxStaleness / 4));
    if (Number.isFinite(this.#settings.maxStaleness)) this.#timers.push(setInterval(() => this.#checkStale(), check));
    this.#timers.push(setInterval(() => void this.#heartbeat(), HEARTBEAT_MS));
    for (const timer of this.#timers) timer.unref();
    void this.#heartbeat();
  }

  async #load(deadline: number): Promise<void> {
    await this.#feed.ready(Math.max(1, deadline - Date.now()));
    this.#useSnapshot(await this.#feed.snapshot());
    this.#afterEffects(this.#lastId, Promise.resolve(0));
    // The stream after the snapshot, until nothing is left: only then may the first decision be made.
    for (;;) {
      const entries = await this.#feed.read(this.#lastId, READ_BATCH);
      if (entries.length === 0) return;
      for (const entry of entries) {
        const result = await this.#apply(entry);
        if (result === 'gap' || result === 'restored') return this.#load(deadline);
      }
    }
  }

  /**
   * Moves to the snapshot's position with its state merged into what this member holds. Fields are
   * never deleted and only move forward, so on the same feed this is the snapshot's state; on a feed
   * that lost its data (see #reload) nothing this member knew is forgotten.
   */
  #useSnapshot(snapshot: Awaited<ReturnType<Feed['snapshot']>>): boolean {
    let changed = false;
    for (const [hash, fields] of snapshot.hashes)
      for (const [field, value] of fields)
        if (this.#applyOp({ hash, field, value, rule: MERGE_RULE[hash] })) changed = true;
    this.#lastId = snapshot.lastId;
    this.#seq = snapshot.seq;
    this.#epoch = snapshot.epoch;
    this.#guard.bump();
    return changed;
  }

  /** The reader: blocks on the stream, applies entries in order, and resumes after any failure. */
  async #follow(): Promise<void> {
    const block = Math.max(10, Math.min(1000, Math.floor(this.#settings.maxStaleness / 3)));
    let resume = false;
    while (!this.#closed) {
      try {
        if (resume) {
          await this.#resume();
          resume = false;
        }
        const entries = await this.#feed.read(this.#lastId, READ_BATCH, block);
        if (this.#closed) return;
        let reloaded = false;
        for (const entry of entries) {
          const result = await this.#apply(entry);
          if (result === 'gap') await this.#reload('entries were trimmed or the feed was recreated');
          else if (result === 'restored') await this.#reload('a member wrote its state back to the feed', true);
          else continue;
          reloaded = true;
          break;
        }
        // An idle feed may still have been recreated under an unbroken link (FLUSHALL, a proxy's failover).
        if (!reloaded && entries.length === 0) reloaded = await this.#resume();
        // A short read reached the head; a full batch or a reload leaves more to read first.
        if (!reloaded && entries.length < READ_BATCH) this.#caughtUp();
      } catch {
        if (this.#closed) return;
        resume = true;
        await new Promise((resolve) => setTimeout(resolve, Math.min(block, 200)));
      }
    }
  }

  /** Reloads when the feed was recreated (a Redis that lost its data); true when it did. */
  async #resume(): Promise<boolean> {
    const { seq, epoch } = await this.#feed.position();
    if (seq < this.#seq || (this.#epoch !== null && epoch !== null && epoch !== this.#epoch)) {
      await this.#reload('the feed was recreated');
      return true;
    }
    this.#epoch ??= epoch;
    return false;
  }

  /**
   * Moves to the snapshot: every watched host re-decides under it. A feed whose sequence went back or
   * whose epoch changed lost its data (a Redis restarted empty, a failover to a stale replica): this
   * member keeps what it knew, writes it back to the feed (events are idempotent, and each field
   * merges as its publish would) and says so with ERR_CTLS_FLEET_RECREATED. Forgetting instead would
   * silently admit every peer revoked before.
   */
  async #reload(why: string, mergeOnly = false): Promise<void> {
    let snapshot = await this.#feed.snapshot();
    const recreated =
      snapshot.seq < this.#seq ||
      (this.#epoch !== null && snapshot.epoch !== this.#epoch) ||
      !(await this.#historyKept());
    if (recreated && this.#holdsState()) {
      const fields = this.#restoreOps();
      for (let i = 0; i < fields.length; i += RESTORE_BATCH)
        await this.#feed.restore(fields.slice(i, i + RESTORE_BATCH));
      // The marker entry makes the members that follow the new feed merge what was written back.
      const marker = JSON.stringify({ at: Date.now(), origin: this.member, restored: fields.length });
      await this.#feed.publish(marker, [], this.#settings.maxEntries);
      snapshot = await this.#feed.snapshot();
      // Once written back (a failed attempt is retried by the reader, and warned about when it succeeds).
      emitWarning(
        this,
        ctlsError(
          'ERR_CTLS_FLEET_RECREATED',
          `The fleet feed lost entries this member had applied (${why}): ` +
            `its state (${fields.length} fields) was kept and written back to the feed`,
        ),
      );
      why = `${why}; this member's state was written back`;
    }
    const changed = this.#useSnapshot(snapshot);
    this.emit('snapshot', { lastId: this.#lastId, reason: why });
    const id = this.#lastId;
    // Merging what another member wrote back skipped no entry: only a changed state needs re-decisions.
    if (mergeOnly && !changed && !recreated) return this.#afterEffects(id, Promise.resolve(0));
    this.#afterEffects(
      id,
      this.#drive((host) => [host.setSharedCrls(this.#state.crlPems()), host.invalidatePolicy()]),
    );
  }

  /**
   * Whether the stream still holds what this member applied. A failover to a stale replica keeps the
   * epoch (state:meta is replicated with the rest), and on a busy feed its sequence soon passes ours:
   * only the stream shows the loss. Trimming drops the oldest entries only, so the entry at our last
   * id is either there with our sequence, or gone with every entry before it while the entries after
   * it number past ours. Anything else lost entries we applied.
   */
  async #historyKept(): Promise<boolean> {
    if (this.#seq === 0) return true;
    const { at, oldest } = await this.#feed.history(this.#lastId);
    if (at !== null) return sequenceOf(at) === undefined || sequenceOf(at) === this.#seq;
    if (oldest === null || compareIds(oldest.id, this.#lastId) < 0) return false;
    const n = sequenceOf(oldest);
    return n === undefined || n > this.#seq;
  }

  #holdsState(): boolean {
    for (const fields of this.#fields.values()) if (fields.size > 0) return true;
    return false;
  }

  /**
   * Every field this member holds, as writes that merge into the feed's (see Feed#restore). Expired
   * revocations and signals are left out: the feed's sweep deleted them, and writing them back would
   * only bring back what nobody reads.
   */
  #restoreOps(): StateOp[] {
    const ops: StateOp[] = [];
    const now = Date.now();
    for (const [hash, fields] of this.#fields)
      for (const [field, value] of fields)
        if (!expired(hash, field, value, now)) ops.push({ hash, field, value, rule: MERGE_RULE[hash] });
    return ops;
  }

  /**
   * Drops expired fields of `hash` from those kept for writing back, when and as FleetState pruned its
   * own (same hash, same `now`): they would otherwise pile up for the process's life.
   */
  #pruneFields(hash: StateHash, now: number): void {
    const fields = this.#fields.get(hash)!;
    for (const [field, value] of fields) if (expired(hash, field, value, now)) fields.delete(field);
  }

  /** Applies one state operation; true when it changed a field. */
  #applyOp(op: StateOp): boolean {
    const fields = this.#fields.get(op.hash)!;
    if (op.rule === 'expire') {
      const now = Date.now();
      if (this.#state.apply(op, now)) this.#pruneFields(op.hash, now);
      return false;
    }
    if (fields.get(op.field) === op.value || !this.#state.apply(op)) return false;
    fields.set(op.field, op.value);
    return true;
  }

  /**
   * Finishes an entry's work on the watched hosts in feed order, without holding up the reader: the
   * state and the guard's generation already moved, so every decision made meanwhile (and every
   * pending one, whose stamp holds the generation) sees the entry. Publishes resolve after it.
   */
  #afterEffects(id: string, work: Promise<number>, done?: (decisions: number) => void): void {
    const previous = this.#effects;
    this.#effects = Promise.all([previous, work])
      .then(([, decisions]) => {
        if (compareIds(id, this.#doneId) > 0) this.#doneId = id;
        try {
          done?.(decisions);
        } finally {
          this.#settle(decisions);
        }
      })
      // A throwing 'applied' listener is reported; it must not stop the entries after it.
      .catch((error: unknown) => this.#hostFailed(error));
  }

  /** Applies one stream entry; 'gap' when it does not follow the last one applied. */
  async #apply(raw: RawEntry): Promise<'applied' | 'skipped' | 'gap' | 'restored'> {
    const n = Number(raw.fields['n']);
    if (!Number.isSafeInteger(n) || n < 1) {
      // Not written by a fleet: it is outside the sequence, so skipping it loses nothing.
      this.#lastId = raw.id;
      this.#afterEffects(raw.id, Promise.resolve(0));
      this.#warn(`entry ${raw.id} has no sequence number`);
      return 'skipped';
    }
    if (n !== this.#seq + 1) return 'gap';
    let entry: FleetEntry;
    let ops;
    try {
      const parsed = JSON.parse(raw.fields['e'] ?? '') as Partial<FleetEntry> & { restored?: unknown };
      // A member wrote its state back to a feed that had lost it (see #reload): merge the snapshot.
      if (parsed.event === undefined && typeof parsed.restored === 'number') return 'restored';
      const event = checkEvent(parsed.event);
      ops = stateOps(event);
      entry = {
        id: raw.id,
        at: typeof parsed.at === 'number' ? parsed.at : 0,
        origin: typeof parsed.origin === 'string' ? parsed.origin : '',
        event,
      };
    } catch (error) {
      this.#seq = n;
      this.#lastId = raw.id;
      this.#afterEffects(raw.id, Promise.resolve(0));
      this.#warn(`entry ${raw.id} was skipped: ${(error as Error).message}`, error);
      return 'skipped';
    }
    for (const op of ops) this.#applyOp(op);
    this.#seq = n;
    this.#lastId = raw.id;
    this.#guard.bump();
    this.#afterEffects(
      raw.id,
      this.#drive((host) => this.#effectsOf(host, entry.event)),
      (decisions) => {
        if (entry.origin === this.member) this.#remember({ id: raw.id, decisions });
        this.emit('applied', entry, decisions);
      },
    );
    return 'applied';
  }

  #effectsOf(host: GuardHost, event: FleetEvent): Array<Promise<Decision[]>> {
    switch (event.type) {
      case 'certificate-revoked':
      case 'subject-revoked':
        return [host.recheckKeys(affectedKeys(event), 'revocation')];
      case 'signals':
        return [this.#recheckSignals(host, affectedKeys(event))];
      case 'crl':
        return [host.setSharedCrls(this.#state.crlPems())];
      case 'policy-invalidated':
        return [host.invalidatePolicy()];
    }
  }

  /**
   * Signals re-decisions of one host run one at a time, and the keys of every signals entry that
   * arrives meanwhile join one batch that runs next: a flood of signals events (an identity
   * provider's burst) costs a host two re-decision rounds in flight, not one per event. Revocations
   * never wait behind them: they are re-decided at once, and the guard already denies.
   */
  #recheckSignals(host: GuardHost, keys: readonly string[]): Promise<Decision[]> {
    let drain = this.#signalDrains.get(host);
    if (drain === undefined) this.#signalDrains.set(host, (drain = { running: Promise.resolve([]) }));
    const queued = drain.queued;
    if (queued !== undefined) {
      for (const key of keys) queued.keys.add(key);
      return queued.done;
    }
    const batch: SignalsBatch = { keys: new Set(keys), done: Promise.resolve([]) };
    const current = drain;
    batch.done = current.running
      .catch(() => [])
      .then(() => {
        if (current.queued === batch) current.queued = undefined;
        return host.recheckKeys(batch.keys, 'signals');
      });
    current.queued = batch;
    current.running = batch.done;
    return batch.done;
  }

  /** Runs `action` on every watched host; a host that fails is reported, never stops the others. */
  async #drive(action: (host: GuardHost) => Array<Promise<Decision[]>>): Promise<number> {
    const calls: Array<Promise<Decision[]>> = [];
    for (const host of this.#hosts.values()) {
      try {
        calls.push(...action(host));
      } catch (error) {
        calls.push(Promise.reject(error as Error));
      }
    }
    let decisions = 0;
    for (const result of await Promise.allSettled(calls)) {
      if (result.status === 'fulfilled') decisions += result.value.length;
      else this.#hostFailed(result.reason);
    }
    return decisions;
  }

  #remember(receipt: FleetReceipt): void {
    this.#receipts.set(receipt.id, receipt);
    if (this.#receipts.size > RECENT_RECEIPTS) this.#receipts.delete(this.#receipts.keys().next().value!);
  }

  /** Resolves the publishes whose entries are now applied here. */
  #settle(decisions: number): void {
    for (const [id, waiter] of this.#waiting) {
      if (compareIds(id, this.#doneId) > 0) continue;
      this.#waiting.delete(id);
      const receipt = this.#receipts.get(id);
      this.#receipts.delete(id);
      waiter.resolve(receipt ?? { id, decisions });
    }
  }

  /**
   * The member has applied every entry up to a head it has just read: only then is it fresh. Hearing
   * the feed is not enough, since a member back from a partition must first apply what it missed.
   */
  #caughtUp(): void {
    this.#lastContactAt = Date.now();
    // Staleness is a duration: a wall clock stepped back (NTP, a restored VM) must not stretch it.
    this.#lastContactMono = performance.now();
    if (this.#staleness.stale) {
      this.#staleness.stale = false;
      this.#guard.bump();
      this.emit('fresh');
    }
  }

  #checkStale(): void {
    if (this.#staleness.stale || this.#closed) return;
    if (performance.now() - this.#lastContactMono <= this.#settings.maxStaleness) return;
    this.#staleness.stale = true;
    this.#guard.bump();
    this.emit('stale');
    const mode = this.#staleness.strict ? 'denying every decision' : 'decisions go on (best-effort)';
    emitWarning(
      this,
      ctlsError(
        'ERR_CTLS_FLEET_STALE',
        `The fleet feed has not been heard for over ${this.#settings.maxStaleness} ms: ${mode}`,
      ),
    );
  }

  /** An entry that cannot be applied: reported, skipped whole. */
  #warn(message: string, cause?: unknown): void {
    emitWarning(this, ctlsError('ERR_CTLS_FLEET_BAD_EVENT', message, cause === undefined ? undefined : { cause }));
  }

  /** A watched target failed to apply an event: its own error is the warning (the others went on). */
  #hostFailed(reason: unknown): void {
    emitWarning(this, reason instanceof Error ? reason : new Error(String(reason)));
  }

  #beats = 0;

  async #heartbeat(): Promise<void> {
    if (this.#closed) return;
    const sweep = this.#beats++ % SWEEP_EVERY === 0;
    let connections = 0;
    for (const host of this.#hosts.values()) connections += host.connectionCount;
    try {
      await this.#feed.heartbeat(this.member, {
        host: hostname(),
        pid: process.pid,
        lastSeen: Date.now(),
        lastEventId: this.#lastId,
        seq: this.#seq,
        stale: this.#staleness.stale,
        watching: this.#hosts.size,
        connections,
      });
      if (sweep) await this.#feed.forgetSilent(FORGET_AFTER_MS, Date.now());
    } catch {
      // The reader notices an unreachable feed; a missed heartbeat only ages the member's record.
    }
  }

  watch(target: FleetTarget): this {
    if (this.#closed) throw ctlsError('ERR_CTLS_FLEET_CLOSED', 'The fleet is closed: it watches nothing more');
    const host = guardHostOf(target);
    if (host === undefined)
      throw invalidOption('fleet.watch(target)', 'an owned Server, an Attachment or a RequestAuthorizer', target);
    if (this.#hosts.has(target)) return this;
    this.#hosts.set(target, host);
    host.addGuard(this.#guard);
    // The target's live connections, and its cached decisions, were decided without the fleet's
    // state: a peer the fleet already revoked must be cut now, not at its next scheduled check.
    const pems = this.#state.crlPems();
    const work: Array<Promise<Decision[]>> = [];
    const run = (call: () => Promise<Decision[]>): void => {
      try {
        work.push(call());
      } catch (error) {
        work.push(Promise.reject(error as Error));
      }
    };
    if (pems.length > 0) run(() => host.setSharedCrls(pems));
    if (this.#holdsState()) run(() => host.invalidatePolicy());
    for (const call of work) call.catch((error: unknown) => this.#hostFailed(error));
    return this;
  }

  unwatch(target: FleetTarget): this {
    const host = this.#hosts.get(target);
    if (host === undefined) return this;
    this.#hosts.delete(target);
    host.removeGuard(this.#guard);
    if (this.#state.crlPems().length > 0) host.setSharedCrls([]).catch((error: unknown) => this.#hostFailed(error));
    return this;
  }

  revokeCertificate(revocation: Omit<CertificateRevokedEvent, 'type'>): Promise<FleetReceipt> {
    return this.publish({ ...revocation, type: 'certificate-revoked' } as FleetEvent);
  }

  async publishCrl(pem: string | Buffer): Promise<FleetReceipt> {
    const text = Buffer.isBuffer(pem) ? pem.toString('latin1') : pem;
    if (typeof text !== 'string') throw ctlsError('ERR_CTLS_BAD_PEM', 'A CRL must be a PEM string or Buffer');
    splitCrls(text);
    return this.publish({ type: 'crl', pem: text });
  }

  async revokeSubject(
    subject: SubjectIdentifier,
    options: { before?: number; reason?: string } = {},
  ): Promise<FleetReceipt> {
    checkObject('options', options);
    const event: Record<string, unknown> = { type: 'subject-revoked', subject, before: options.before ?? Date.now() };
    if (options.reason !== undefined) event['reason'] = options.reason;
    return this.publish(event as unknown as FleetEvent);
  }

  invalidatePolicy(reason?: string): Promise<FleetReceipt> {
    return this.publish(reason === undefined ? { type: 'policy-invalidated' } : { type: 'policy-invalidated', reason });
  }

  async publish(event: FleetEvent): Promise<FleetReceipt> {
    if (this.#closed) throw ctlsError('ERR_CTLS_FLEET_CLOSED', 'The fleet is closed: it publishes nothing more');
    const checked = checkEvent(event);
    const ops = stateOps(checked);
    const entry = JSON.stringify({ at: Date.now(), origin: this.member, event: checked });
    let id: string;
    try {
      ({ id } = await this.#feed.publish(entry, ops, this.#settings.maxEntries));
    } catch (error) {
      throw unavailable('could not be written', error);
    }
    if (this.#closed) throw ctlsError('ERR_CTLS_FLEET_CLOSED', 'The fleet closed before the event was applied');
    if (compareIds(id, this.#doneId) <= 0) {
      const receipt = this.#receipts.get(id) ?? { id, decisions: 0 };
      this.#receipts.delete(id);
      return receipt;
    }
    return new Promise((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
  }

  status(): FleetStatus {
    return {
      name: this.name,
      member: this.member,
      lastEventId: this.#seq === 0 ? null : this.#lastId,
      lastContactAt: this.#lastContactAt,
      stale: this.#staleness.stale,
      watching: this.#hosts.size,
      ...this.#state.counts,
    };
  }

  async claimOnce(namespace: string, id: string, ttlMs: number): Promise<boolean> {
    if (this.#closed) throw ctlsError('ERR_CTLS_FLEET_CLOSED', 'The fleet is closed');
    checkString('namespace', namespace, { nonEmpty: true });
    checkString('id', id, { nonEmpty: true });
    if (namespace.length + id.length > MAX_CLAIM_CHARS)
      throw invalidOption('id', `at most ${MAX_CLAIM_CHARS} characters with its namespace`, id);
    checkDuration('ttlMs', ttlMs);
    try {
      return await this.#feed.claimOnce(namespace, id, Math.ceil(ttlMs));
    } catch (error) {
      throw unavailable('could not record a claim', error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const target of [...this.#hosts.keys()]) this.unwatch(target);
    const closed = ctlsError('ERR_CTLS_FLEET_CLOSED', 'The fleet closed before the event was applied');
    for (const waiter of this.#waiting.values()) waiter.reject(closed);
    this.#waiting.clear();
    // The member's record ages out of `fleet status` if it cannot be removed now.
    await within(this.#feed.leave(this.member), LEAVE_WAIT_MS).catch(() => undefined);
    await this.#feed.close();
    // The reader stops at its next step; one stuck in a target's re-check is not waited for long.
    await within(this.#reading ?? Promise.resolve(), LEAVE_WAIT_MS).catch(() => undefined);
  }
}
