/**
 * The system under test and the reference model side by side, for the model-based property tests.
 *
 * A World holds one server (owned tier, or node:tls / node:https with attach()), its clients, and
 * the model's view of trust. Every step first updates the model, then acts on the real system; a
 * global step counter stamps every byte the application receives, so each receipt is judged by the
 * model's verdict at that step. Once a step settles, each live connection must be open and passing
 * data when the model allows it, and closed when the model denies it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { constants } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  attach,
  connect,
  createSecureContext,
  createServer,
  reauthorize,
  type Attachment,
  type Server,
  type TLSSocket,
} from '../../../dist/index.js';
import { GatedTransport, consume, type ReadMode } from './transport';
import {
  kGuardHost,
  type DecisionGuard,
  type GuardFacts,
  type GuardHost,
  type GuardVerdict,
} from '../../../dist/authz/guard.js';
import { ModelPki, type Leaf, type Tenant } from './pki';
import {
  describePolicy,
  expected,
  nodeTrust,
  policyFor,
  type PolicySpec,
  type ServerMode,
  type TrustState,
  type Verdict,
} from './reference';

export type Tier = 'owned' | 'attached-tls' | 'attached-https';
export type Version = 'TLSv1.3' | 'TLSv1.2';

export interface IdentitySpec {
  cn: string;
  tenant: Tenant;
  viaIntermediate: boolean;
  /** Issued at first use with a lifetime of a few seconds. */
  short: boolean;
  /** Issued by an intermediate of its own, made at first use with a lifetime of a few seconds. */
  shortIntermediate?: boolean;
}

export interface Setup {
  tier: Tier;
  mode: ServerMode;
  version: Version;
  sniTenants: boolean;
  /** SNICallback answers after a timer (the handshake waits at the ClientHello). */
  sniDelay: boolean;
  policy: PolicySpec;
  /** Periodic re-check interval (0 = off). */
  every: number;
  identities: IdentitySpec[];
}

export function identityName(spec: IdentitySpec): string {
  const issuer = spec.shortIntermediate === true ? 'own-int~' : spec.viaIntermediate ? 'int' : 'root';
  return `${spec.cn}@${spec.tenant}/${issuer}${spec.short ? '~' : ''}`;
}

export function describeSetup(setup: Setup): string {
  return [
    setup.tier,
    setup.mode,
    setup.version,
    setup.sniTenants ? `sni${setup.sniDelay ? '(slow)' : ''}` : 'no-sni',
    `policy=${describePolicy(setup.policy)}`,
    `every=${setup.every}`,
    `ids=[${setup.identities.map((s, i) => `#${i} ${identityName(s)}`).join(', ')}]`,
  ].join(' ');
}

/** Expiry margin: no step starts this close to a notAfter, and a connection this close is judged either way. */
export const MARGIN_MS = 500;
/** How long a settled step may take to show its effect on a connection under load. */
const SETTLE_MS = 8_000;
const SHORT_LIFETIME_MS = 2_900;
const MARKER_EVERY_MS = 30;

interface HistoryEntry {
  step: number;
  allow: boolean;
  why: string;
  leaf: Leaf | null;
  /** A verdict fixed by detach(): no clock runs on it any more. */
  pinned: boolean;
}

/** What the detach() steps exercised, over every sequence of the process (reported by the runner). */
export const detachStats = {
  detaches: 0,
  /** detach() ran with decisions in flight (they conclude on their own). */
  withPending: 0,
  /** detach() followed a setPolicy() (at once, or midway through its decisions). */
  inFlight: 0,
  /** Connections open at detach() the model allows (they must stay open, untracked, for good). */
  allowedAcross: 0,
  /** Connections open at detach() the model denies (they must be cut). */
  deniedAcross: 0,
  /** Handshakes detach() raced with (either side's verdict is right). */
  raced: 0,
  /** Denials kept open with nothing in flight that detach() closed with ERR_CTLS_DETACHED. */
  keptOpenClosed: 0,
  /** Connections whose handshake ran after detach() (node's own verification only). */
  afterDetach: 0,
};

export class Conn {
  readonly id: number;
  readonly servername: string;
  /**
   * The name the server judges the connection under. Normally the one the client sends; when the
   * attached tier resumes a TLS 1.2 session, OpenSSL (and so node) reports the session's original
   * name and serves it under that name's context, so that name is what the attachment judges.
   */
  judgedName: string;
  readonly mode: ReadMode;
  /** What the server holds as the peer's certificate (model). */
  leaf: Leaf | null;
  /** What the client answers the next certificate request with. */
  clientLeaf: Leaf | null;
  readonly handshakeLeaf: Leaf | null;
  phase: 'paused' | 'open' | 'closed' = 'open';
  /** Passed a liveness probe at a settle: the server admitted it. */
  established = false;
  /**
   * A fresh re-authentication is in flight: the client answers the request with whatever identity
   * it holds when the request reaches it, so no other rotation may interleave.
   */
  freshInFlight = false;
  history: HistoryEntry[] = [];
  deniedSince: number | null = null;
  denyWhy = '';
  /** The model went deny -> allow within one settle window: either outcome is right. */
  ambiguous = false;
  /** Leaves it presented since the last settle (a rotation shows both). */
  windowLeaves = new Set<Leaf>();
  /**
   * The verdict for good once detach() ran: the model's at that moment for a connection open then,
   * node's own at the handshake for one that proceeds after it. No later trust change moves it.
   */
  pinned: Verdict | null = null;
  /**
   * Either outcome is right at the next settle (then cleared): 'race', its handshake may have
   * finished before detach() (the attachment judged it) or after (node alone did); 'resume', node
   * resumes a session without verifying, but refuses the full handshake it may fall back to.
   */
  detachEither: 'race' | 'resume' | null = null;
  /** Opened by resuming a session (the Resume step). */
  viaSession = false;
  /** Re-decided with a token the model's guard denies (a denial kept open, before detach()). */
  tokenDenied = false;

  // ---- real side ----
  client!: TLSSocket | tls.TLSSocket;
  gate: GatedTransport | null = null;
  serverSocket: Duplex | null = null;
  session: Buffer | null = null;
  /**
   * The certificate the latest session carries: a TLS 1.2 renegotiation (a fresh
   * re-authentication) issues a new session for the new certificate; a TLS 1.3 ticket keeps the
   * handshake's.
   */
  sessionLeaf: Leaf | null = null;
  clientClosed = false;
  clientSecure = false;
  closedAt = 0;
  sentSeq = 0;
  maxSeq = 0;
  timer: NodeJS.Timeout | null = null;
  /** Receipts the model forbids (only the first is reported). */
  leaks = 0;
  #waiters = new Set<() => void>();

  constructor(id: number, servername: string, mode: ReadMode, leaf: Leaf | null) {
    this.id = id;
    this.servername = servername;
    this.judgedName = servername;
    this.mode = mode;
    this.leaf = leaf;
    this.clientLeaf = leaf;
    this.handshakeLeaf = leaf;
  }

  get label(): string {
    return `c${this.id}`;
  }

  notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves true once `predicate` holds (re-tested on every receipt/close), false after `ms`. */
  until(predicate: () => boolean, ms: number): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!predicate()) return;
        done(true);
      };
      const timer = setTimeout(() => done(false), ms);
      const done = (value: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(value);
      };
      this.#waiters.add(check);
    });
  }

  /**
   * The server let go of the connection and the client read its end from the wire. The client's
   * 'end' counts as much as its 'close': a node:tls client whose write waits on a renegotiation
   * the server cut off keeps that write, and so never closes, after it reads the end.
   */
  get cut(): boolean {
    const clientSawEnd = this.clientClosed || this.client.readableEnded;
    return clientSawEnd && (this.serverSocket === null || this.serverSocket.destroyed);
  }

  sendMarker(): number {
    if (this.clientClosed || this.client.destroyed || this.client.writableEnded) return this.sentSeq;
    const seq = ++this.sentSeq;
    const line = this.mode === 'http' ? `GET /m/${seq} HTTP/1.1\r\nHost: model\r\n\r\n` : `m${seq}\n`;
    this.client.write(line);
    return seq;
  }
}

/**
 * A fleet's guard as the model needs it: leaf serials revoked from outside, named by index key.
 * Written against the DecisionGuard contract only, like a fleet would be.
 */
export class ModelGuard implements DecisionGuard {
  generation = 0;
  readonly #revoked = new Set<string>();

  judge(facts: GuardFacts): GuardVerdict {
    // One connection denied on its own: reauthorize(socket, { token: { model: 'deny' } }).
    if (facts.token?.['model'] === 'deny') return { deny: 'model-token' };
    const leaf = facts.chain[0];
    return leaf !== undefined && this.#revoked.has(leaf.serialNumber) ? { deny: 'fleet-revoked' } : {};
  }

  keys(facts: GuardFacts): string[] {
    const leaf = facts.chain[0];
    return leaf === undefined ? [] : [`serial:${leaf.serialNumber}`];
  }

  set(serial: string, revoked: boolean): string[] {
    if (revoked) this.#revoked.add(serial);
    else this.#revoked.delete(serial);
    this.generation++;
    return [`serial:${serial}`];
  }
}

interface Backend {
  /** The server's (or attachment's) guard host, with a ModelGuard installed. */
  guardHost: GuardHost;
  guard: ModelGuard;
  setCrl(pem: string): Promise<unknown>;
  setCa(pem: string): Promise<unknown>;
  setPolicy(spec: PolicySpec): Promise<unknown>;
  reauthorize(
    socket: Duplex,
    options: { fresh?: boolean; destroyOnDeny?: boolean; token?: Record<string, unknown> },
  ): Promise<unknown>;
  close(): Promise<void>;
  /** Attached tiers: attachment.detach(). */
  detach?(): void;
  /** Attached tiers: decisions in flight now. */
  pendingDecisions?(): number;
  /** attached-https: raises 'request' through server.emit, as node's parser does, for `socket`. */
  emitRequest?(socket: Duplex): void;
  /** Attached tiers: whether server.emit is node's own again (the attachment's wrapper is gone). */
  emitIsNodes?(): boolean;
}

export class PropertyFailure extends Error {
  readonly violations: string[];
  readonly trace: string[];

  constructor(violations: string[], trace: string[]) {
    super(violations.join('\n'));
    this.violations = [...violations];
    this.trace = [...trace];
  }
}

export class World {
  readonly setup: Setup;
  readonly pki: ModelPki;
  readonly trust: TrustState & {
    defaultCa: Set<Tenant>;
    revokedLeaves: Set<string>;
    revokedIntermediates: Set<Tenant>;
    guardRevoked: Set<string>;
  };
  step = 0;
  /** The step detach() ran at (attached tiers), or null while attached. */
  detachedAt: number | null = null;
  readonly conns: Conn[] = [];
  readonly trace: string[] = [];
  /** The steps that ran (a step whose check() failed is skipped), as they print. */
  readonly steps: string[] = [];
  readonly violations: string[] = [];
  readonly #leaves = new Map<number, Leaf>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #byPort = new Map<number, Conn>();
  readonly #bySocket = new WeakMap<object, Conn>();
  #windowStart = Date.now();
  #backend!: Backend;
  port = 0;
  /** ms after a notAfter within which a receipt is still tolerated (the gate's own clock check vs ours). */
  readonly expiryTolerance: number;

  private constructor(setup: Setup, pki: ModelPki) {
    this.setup = setup;
    this.pki = pki;
    this.trust = {
      defaultCa: new Set<Tenant>(['A', 'B']),
      revokedLeaves: new Set(),
      revokedIntermediates: new Set(),
      guardRevoked: new Set(),
      policy: setup.policy,
      mode: setup.mode,
      sniTenants: setup.sniTenants,
    };
    // The owned tier checks the deadline at every delivery; the attached tier pauses node's socket
    // from a timer, which a loaded event loop runs late.
    this.expiryTolerance = setup.tier === 'owned' ? 25 : 250;
  }

  static async create(setup: Setup, pki: ModelPki): Promise<World> {
    const world = new World(setup, pki);
    const crl = await pki.crls([], []);
    world.#backend = setup.tier === 'owned' ? await world.#ownedBackend(crl) : await world.#attachedBackend(crl);
    world.log(`setup ${describeSetup(setup)}`);
    return world;
  }

  readonly #born = Date.now();

  log(line: string): void {
    this.trace.push(`[${this.step}] +${Date.now() - this.#born}ms ${line}`);
  }

  // ---- model ---------------------------------------------------------------

  async leaf(index: number): Promise<Leaf> {
    let leaf = this.#leaves.get(index);
    if (leaf === undefined) {
      const spec = this.setup.identities[index]!;
      const made = await this.pki.issue({
        ...spec,
        lifetimeMs: spec.short ? SHORT_LIFETIME_MS : 3_600_000,
        ...(spec.shortIntermediate === true ? { intermediateLifetimeMs: SHORT_LIFETIME_MS } : {}),
      });
      leaf = made;
      this.#leaves.set(index, made);
      if (spec.short || spec.shortIntermediate === true)
        this.log(`issued ${made.id}, notAfter in ${made.notAfter - Date.now()} ms`);
      if (made.ownIntermediate) {
        // Whole-chain revocation checking wants a CRL from every CA on the path: install the new
        // intermediate's (same revocations, so the model does not change).
        const pem = await this.pki.crls(
          this.issuedLeaves().filter((l) => this.trust.revokedLeaves.has(l.serial)),
          this.trust.revokedIntermediates,
        );
        await this.act(
          `setCrl: the same revocations, plus a CRL of ${made.id}'s intermediate`,
          false,
          () => {},
          () => this.#backend.setCrl(pem),
        );
      }
    }
    return leaf;
  }

  issuedLeaves(): Leaf[] {
    return [...this.#leaves.values()];
  }

  verdict(conn: Conn, now = Date.now()): Verdict {
    if (conn.pinned !== null) return conn.pinned;
    if (conn.tokenDenied) return { allow: false, why: "the model's guard denies its token" };
    return expected(this.#effectiveTrust(conn), conn.leaf, conn.judgedName, now);
  }

  /**
   * Both tiers judge a tenant's name by that tenant's root alone: node's SNI context verifies the
   * handshake with it, and the attachment is given the same CAs per name (`sni`), which `setCa`
   * (the default name's CAs) does not touch.
   */
  #effectiveTrust(_conn: Conn): TrustState {
    return this.trust;
  }

  /** Records every open connection's verdict at the current step. */
  #evaluate(): void {
    const now = Date.now();
    for (const conn of this.conns) {
      if (conn.phase !== 'open') continue;
      if (this.detachedAt !== null && conn.pinned === null) this.#pinAfterDetach(conn, now);
      const v = this.verdict(conn, now);
      conn.history.push({ step: this.step, allow: v.allow, why: v.why, leaf: conn.leaf, pinned: conn.pinned !== null });
      if (conn.leaf !== null) conn.windowLeaves.add(conn.leaf);
      if (!v.allow && conn.deniedSince === null) {
        conn.deniedSince = this.step;
        conn.denyWhy = v.why;
      } else if (v.allow && conn.deniedSince !== null) {
        conn.ambiguous = true;
        conn.deniedSince = null;
      }
    }
  }

  /**
   * A handshake that proceeds after detach() (a new connection, or one paused across it): node's
   * own verification alone judges it, once, at the handshake; nothing re-checks it afterwards.
   */
  #pinAfterDetach(conn: Conn, now: number): void {
    detachStats.afterDetach++;
    const node = expected(nodeTrust(this.setup.sniTenants), conn.leaf, conn.servername, now);
    if (!node.allow && conn.viaSession) {
      conn.pinned = { allow: true, why: `after detach(), node resumes without verifying (in full: ${node.why})` };
      conn.detachEither = 'resume';
    } else {
      conn.pinned = { allow: node.allow, why: `after detach(), node alone: ${node.why}` };
    }
  }

  /**
   * The model's side of detach(): every connection open now keeps, for good, the verdict it has
   * now. One allowed stays open untracked (later trust changes, expiry and re-checks no longer
   * touch it); one denied is cut, by its decision still in flight or by detach() itself
   * (ERR_CTLS_DETACHED). A decision in flight concludes per the trust in force now, which the model
   * already holds: its verdict is this one.
   *
   * Weaker where the test cannot tell: a handshake still under way (a concurrent connect) may have
   * been admitted by the attachment just before, or pass node alone just after; when the two
   * verdicts differ either outcome is right at the next settle, and the application may receive
   * its data (whichever judged it let it through).
   */
  detachModel(keptOpen: Conn | null, policy: PolicySpec | null, _midway: boolean): void {
    const now = Date.now();
    if (keptOpen !== null) keptOpen.tokenDenied = true;
    if (policy !== null) this.trust.policy = policy;
    for (const conn of this.conns) {
      if (conn.phase !== 'open') continue;
      const v = this.verdict(conn, now);
      if (conn.serverSocket === null && !conn.clientClosed) {
        const node = expected(nodeTrust(this.setup.sniTenants), conn.leaf, conn.servername, now);
        if (node.allow !== v.allow || conn.viaSession) {
          detachStats.raced++;
          conn.pinned = { allow: true, why: `its handshake raced detach() (attachment: ${v.why}; node: ${node.why})` };
          conn.detachEither = 'race';
          continue;
        }
      }
      if (v.allow) detachStats.allowedAcross++;
      else detachStats.deniedAcross++;
      conn.pinned = {
        allow: v.allow,
        why: `${v.allow ? 'allowed' : 'denied'} at detach() (step ${this.step}): ${v.why}`,
      };
    }
    this.detachedAt = this.step;
  }

  /**
   * The real detach(). A denial kept open (held, no decision in force) with no decision in flight
   * anywhere must be closed by detach() itself, at once, with ERR_CTLS_DETACHED.
   */
  async detachReal(keptOpen: Conn | null, policy: PolicySpec | null, midway: boolean): Promise<void> {
    const backend = this.#backend;
    if (policy !== null) {
      detachStats.inFlight++;
      this.track(backend.setPolicy(policy));
      // The sweep decides one hop after setPolicy() returns: midway, detach() comes after that.
      if (midway) await new Promise((resolve) => setImmediate(resolve));
    }
    const pending = backend.pendingDecisions!();
    const socket = keptOpen?.serverSocket ?? null;
    const heldOpen = socket !== null && !socket.destroyed;
    backend.detach!();
    detachStats.detaches++;
    if (this.setup.tier === 'attached-https') {
      // What node's parser raises for bytes read just before a hold began: a request on every
      // connection still open. A held one's must wait for its decision (and never run if it
      // denies); the receipt is judged like any other.
      for (const conn of this.conns) {
        const socket = conn.serverSocket;
        if (conn.phase !== 'open' || socket === null || socket.destroyed) continue;
        backend.emitRequest!(socket);
      }
    }
    if (pending > 0) detachStats.withPending++;
    this.log(`detach() with ${pending} decision(s) in flight`);
    if (heldOpen && pending === 0) {
      const reason = (socket as { destroyReason?: Error & { code?: string } }).destroyReason;
      if (!socket.destroyed || reason?.code !== 'ERR_CTLS_DETACHED') {
        this.violation(
          keptOpen,
          `held by a denial kept open with nothing in flight, detach() left it ` +
            (socket.destroyed ? `destroyed with ${reason?.code ?? 'no reason'}` : 'open'),
        );
      } else {
        detachStats.keptOpenClosed++;
        this.log(`${keptOpen!.label}: closed by detach() (ERR_CTLS_DETACHED)`);
      }
    }
  }

  /**
   * One step: wait until no certificate is about to expire, then (synchronously) bump the step,
   * update the model, record verdicts and start the real action. Unless `concurrent`, the step then
   * settles and every connection is checked.
   */
  async act(label: string, concurrent: boolean, model: () => void, real: () => Promise<unknown> | void): Promise<void> {
    await this.#barrier();
    this.step++;
    this.log(`${label}${concurrent ? ' (concurrent)' : ''}`);
    model();
    this.#evaluate();
    const result = real();
    if (result instanceof Promise) this.track(result);
    if (!concurrent) await this.settle();
  }

  track(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => this.#inflight.delete(tracked));
    this.#inflight.add(tracked);
  }

  /** The relevant notAfters: leaves of live connections and short leaves issued so far. */
  #deadlines(): number[] {
    const out = new Set<number>();
    for (const leaf of this.#leaves.values()) if (leaf.notAfter - Date.now() < 60_000) out.add(leaf.notAfter);
    return [...out];
  }

  async #barrier(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const near = this.#deadlines().filter((at) => Math.abs(at - now) < MARGIN_MS);
      if (near.length === 0) return;
      const until = Math.max(...near) + MARGIN_MS + 5;
      await sleep(until - now);
    }
  }

  /** Sleeps past the earliest notAfter of a live connection's certificate. */
  async expire(): Promise<void> {
    const now = Date.now();
    const due = this.conns
      .filter((c) => c.phase === 'open' && c.leaf !== null && c.leaf.notAfter > now)
      .map((c) => c.leaf!.notAfter);
    if (due.length === 0) return;
    const at = Math.min(...due);
    this.step++;
    this.log(`time passes the notAfter in ${at - now} ms`);
    await sleep(at + MARGIN_MS + 5 - now);
    await this.settle();
  }

  // ---- settling and checking --------------------------------------------------

  /** The end of a sequence: paused handshakes go on, and everything is checked once more. */
  async finish(): Promise<void> {
    const paused = this.conns.filter((c) => c.phase === 'paused');
    if (paused.length > 0) {
      await this.act(
        `release ${paused.map((c) => c.label).join(', ')} (end of sequence)`,
        false,
        () => {
          for (const conn of paused) conn.phase = 'open';
        },
        () => {
          for (const conn of paused) conn.gate!.release();
          return Promise.all(paused.map((conn) => this.handshakeDone(conn)));
        },
      );
    } else {
      await this.settle();
    }
  }

  async settle(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, 15_000)));
    await Promise.race([Promise.all([...this.#inflight]), deadline]);
    clearTimeout(timer);
    this.#throwIfViolated();
    this.step++;
    this.#evaluate();
    const now = Date.now();
    const windowStart = this.#windowStart;
    await Promise.all(this.conns.filter((c) => c.phase === 'open').map((c) => this.#check(c, windowStart, now)));
    const open = this.conns.filter((c) => c.phase === 'open').map((c) => c.label);
    if (open.length > 0) this.log(`settled: ${open.join(', ')} open and passing data`);
    if (this.detachedAt !== null) await this.#checkEmitRestored();
    for (const conn of this.conns) {
      conn.ambiguous = false;
      conn.detachEither = null;
      conn.windowLeaves = new Set(conn.leaf === null ? [] : [conn.leaf]);
    }
    this.#windowStart = Date.now();
    this.#throwIfViolated();
  }

  /**
   * After detach(), once every connection has settled nothing is held (the allowed pass data, the
   * denied are cut): server.emit must be node's own again. A cut socket's 'close' comes a little
   * after the client reads its end, so this waits a moment.
   */
  async #checkEmitRestored(): Promise<void> {
    const backend = this.#backend;
    const until = Date.now() + 3_000;
    while (!backend.emitIsNodes!()) {
      if (Date.now() >= until) {
        this.violation(
          null,
          `every connection settled after detach() (nothing held), but server.emit is not node's own`,
        );
        return;
      }
      await sleep(20);
    }
  }

  /** Either outcome is right for a connection detach() raced with (see Conn.detachEither). */
  #detachEither(conn: Conn): boolean {
    if (conn.detachEither === 'race') return true;
    if (conn.detachEither === 'resume') return !(conn.clientSecure && (conn.client as tls.TLSSocket).isSessionReused());
    return false;
  }

  #throwIfViolated(): void {
    if (this.violations.length === 0) return;
    for (const conn of this.conns) {
      if (conn.leaks > 1) this.violations.push(`(${conn.leaks - 1} more forbidden receipts on ${conn.label})`);
    }
    throw new PropertyFailure(this.violations, this.trace);
  }

  /**
   * Either outcome is right when a certificate's notAfter is too close to now to tell, or when the
   * connection changed certificates (a rotation) in a window the old one expired in.
   */
  #nearExpiry(conn: Conn, windowStart: number, now: number): boolean {
    for (const leaf of conn.windowLeaves) {
      if (Math.abs(leaf.notAfter - now) <= MARGIN_MS) return true;
      if (conn.windowLeaves.size > 1 && leaf.notAfter >= windowStart - MARGIN_MS && leaf.notAfter <= now) return true;
    }
    return false;
  }

  async #check(conn: Conn, windowStart: number, now: number): Promise<void> {
    // A verdict detach() fixed runs no clock: an expiry near now changes nothing.
    const pinned = conn.pinned !== null;
    const either = conn.ambiguous || (!pinned && this.#nearExpiry(conn, windowStart, now)) || this.#detachEither(conn);
    if (conn.deniedSince !== null) {
      if (either) {
        if (conn.cut) this.#closed(conn, 'cut (either was right)');
        return;
      }
      const cut = await conn.until(() => conn.cut || conn.leaks > 0, SETTLE_MS);
      if (!cut && conn.leaks === 0) {
        const server =
          conn.serverSocket === null ? 'never admitted' : conn.serverSocket.destroyed ? 'destroyed' : 'open';
        this.violation(
          conn,
          `the model denies it since step ${conn.deniedSince} (${conn.denyWhy}) ` +
            `but it is still open ${SETTLE_MS} ms later` +
            ` (client ${conn.clientClosed ? 'closed' : 'open'}, server socket ${server})`,
        );
      }
      this.#closed(
        conn,
        conn.leaks > 0 && !cut
          ? `denied (${conn.denyWhy}) but passed data: closed by the test`
          : `cut as denied (${conn.denyWhy})`,
      );
      return;
    }
    if (either && conn.cut) {
      this.#closed(conn, 'cut (either was right)');
      return;
    }
    const target = conn.sendMarker();
    const passed = await conn.until(
      () => conn.maxSeq >= target || conn.cut || conn.clientClosed || conn.leaks > 0,
      SETTLE_MS,
    );
    if (conn.leaks > 0) return;
    if (passed && conn.maxSeq >= target) {
      conn.established = true;
      return;
    }
    const leafExpiry = conn.leaf?.notAfter ?? Infinity;
    if (
      (conn.cut || conn.clientClosed) &&
      (either || (!pinned && conn.closedAt >= leafExpiry - this.expiryTolerance))
    ) {
      this.#closed(conn, 'cut at its expiry');
      return;
    }
    const reason = (conn.serverSocket as { destroyReason?: Error | null } | null)?.destroyReason?.message;
    this.violation(
      conn,
      conn.clientClosed || conn.cut
        ? `the model allows it (${this.verdict(conn).why}) but it was cut${reason ? `: ${reason}` : ''}`
        : `the model allows it but marker ${target} did not reach the application within ${SETTLE_MS} ms ` +
            `(last seen ${conn.maxSeq})`,
    );
    this.#closed(conn, 'failed');
  }

  #closed(conn: Conn, why: string): void {
    conn.phase = 'closed';
    if (conn.timer !== null) clearInterval(conn.timer);
    conn.client.destroy();
    this.log(`${conn.label}: ${why}`);
  }

  violation(conn: Conn | null, message: string): void {
    this.violations.push(`VIOLATION at step ${this.step}${conn ? ` on ${conn.label}` : ''}: ${message}`);
  }

  /** A byte that should not have reached the app: the first per connection is reported, the rest counted. */
  #leak(conn: Conn, message: string): void {
    conn.leaks++;
    if (conn.leaks === 1) this.violation(conn, message);
  }

  /** The application received `seq` (a marker line or an HTTP request) on `conn`. */
  receipt(conn: Conn, seq: number | null, bytes: number): void {
    const now = Date.now();
    if (seq !== null && seq > conn.maxSeq) conn.maxSeq = seq;
    let entry: HistoryEntry | undefined;
    for (let i = conn.history.length - 1; i >= 0; i--) {
      if (conn.history[i]!.step <= this.step) {
        entry = conn.history[i];
        break;
      }
    }
    const what =
      conn.mode === 'http'
        ? `the HTTP handler ran (request ${seq ?? '?'})`
        : `${bytes} bytes (marker ${seq ?? '?'}) reached the application`;
    if (entry === undefined) {
      this.#leak(conn, `${what} before the model saw the handshake complete`);
    } else if (!entry.allow) {
      this.#leak(
        conn,
        `${what} at step ${this.step} while the model denies it (${entry.why}, since step ${entry.step})`,
      );
    } else if (!entry.pinned && entry.leaf !== null && now >= entry.leaf.notAfter + this.expiryTolerance) {
      this.#leak(conn, `${what} ${now - entry.leaf.notAfter} ms after ${entry.leaf.id} expired`);
    }
    conn.notify();
  }

  // ---- real side: clients -------------------------------------------------------

  /** Opens a client connection for `conn` (optionally paused after its ClientHello, or resuming `session`). */
  openClient(conn: Conn, options: { pause: boolean; session?: Buffer | null }): Promise<void> {
    const leaf = conn.clientLeaf;
    // node's TLSSocket over a half-open TCP socket never closes after a fatal alert; the owned
    // client handles the transport's end itself (as connect() does).
    const socket = net.connect({ host: '127.0.0.1', port: this.port, allowHalfOpen: this.setup.tier === 'owned' });
    socket.on('connect', () => this.#byPort.set(socket.localPort!, conn));
    const transport: Duplex = options.pause ? (conn.gate = new GatedTransport(socket)) : socket;
    const common = {
      servername: conn.servername,
      ca: this.pki.serverRoot.pem,
      maxVersion: this.setup.version,
      ...(leaf === null ? {} : { key: leaf.key, cert: leaf.chain }),
      ...(options.session ? { session: options.session } : {}),
    };
    const client =
      this.setup.tier === 'owned'
        ? connect({ ...common, socket: transport as net.Socket, host: '127.0.0.1' })
        : tls.connect({ ...common, socket: transport, host: '127.0.0.1' });
    conn.client = client;
    client.on('error', () => {});
    client.on('session', (session: Buffer) => {
      conn.session = session;
      // A TLS 1.3 ticket is issued at the handshake and none after a post-handshake
      // authentication, however late it reaches the client; a TLS 1.2 renegotiation issues a
      // session for the certificate it brought.
      conn.sessionLeaf = this.setup.version === 'TLSv1.3' ? conn.handshakeLeaf : conn.leaf;
    });
    client.once(this.setup.tier === 'owned' ? 'secureConnect' : 'secureConnect', () => {
      conn.clientSecure = true;
      conn.timer = setInterval(() => conn.sendMarker(), MARKER_EVERY_MS);
      conn.timer.unref();
      // HTTP responses are read and dropped; stream modes get nothing back.
      client.resume();
    });
    client.once('end', () => conn.notify());
    client.once('close', () => {
      conn.clientClosed = true;
      conn.closedAt = Date.now();
      if (conn.timer !== null) clearInterval(conn.timer);
      conn.notify();
    });
    if (options.pause) {
      // Done once the server answered the ClientHello: the handshake now waits on the client.
      return new Promise((resolve) => {
        socket.once('data', () => resolve());
        socket.once('close', () => resolve());
      });
    }
    return this.handshakeDone(conn);
  }

  /** Resolves once the server admitted the connection or the client saw it close. */
  handshakeDone(conn: Conn): Promise<void> {
    return conn.until(() => conn.serverSocket !== null || conn.clientClosed, 15_000).then(() => undefined);
  }

  /** The server side: the application got a socket (after the library admitted it). */
  #onServerSocket(socket: Duplex & { remotePort?: number }): void {
    const conn = socket.remotePort === undefined ? undefined : this.#byPort.get(socket.remotePort);
    if (conn === undefined) {
      this.violation(null, `the server admitted a connection from port ${socket.remotePort} the test does not know`);
      socket.destroy();
      return;
    }
    conn.serverSocket = socket;
    this.#bySocket.set(socket, conn);
    if ((socket as { isSessionReused?: () => boolean }).isSessionReused?.() === true)
      this.log(`${conn.label}: the server resumed its session`);
    socket.on('error', () => {});
    socket.once('close', () => conn.notify());
    if (conn.mode !== 'http') {
      let partial = '';
      consume(socket, conn.mode, (chunk) => {
        partial += chunk.toString('latin1');
        let seq: number | null = null;
        let newline: number;
        while ((newline = partial.indexOf('\n')) >= 0) {
          const n = Number(partial.slice(1, newline));
          if (Number.isFinite(n)) seq = n;
          partial = partial.slice(newline + 1);
        }
        this.receipt(conn, seq, chunk.length);
      });
    } else if (this.setup.tier === 'owned') {
      this.#http!.emit('connection', socket);
    }
    conn.notify();
  }

  #onRequest(request: http.IncomingMessage, response: http.ServerResponse): void {
    const conn = this.#bySocket.get(request.socket);
    const seq = Number(/^\/m\/(\d+)/.exec(request.url ?? '')?.[1]);
    if (conn === undefined) this.violation(null, `an HTTP request (${request.url}) on a socket the test does not know`);
    else this.receipt(conn, Number.isFinite(seq) ? seq : null, 0);
    response.end('ok');
  }

  #http: http.Server | null = null;

  // ---- real side: servers ------------------------------------------------------------

  async #ownedBackend(crl: string): Promise<Backend> {
    const { pki, setup } = this;
    const tenants = new Map<string, ReturnType<typeof createSecureContext>>();
    if (setup.sniTenants) {
      for (const [name, tenant] of [
        ['a.test', 'A'],
        ['b.test', 'B'],
      ] as const) {
        tenants.set(
          name,
          createSecureContext(
            { key: pki.server.key, cert: pki.server.cert, ca: pki.caPem([tenant]), crl, maxVersion: setup.version },
            true,
          ),
        );
      }
    }
    const policy = policyFor(setup.policy);
    const server: Server = createServer({
      key: pki.server.key,
      cert: pki.server.cert,
      ca: pki.caPem(this.trust.defaultCa),
      crl,
      requestCert: true,
      rejectUnauthorized: setup.mode === 'strict',
      ...(policy === undefined ? {} : { policy }),
      policyTimeout: 5_000,
      reauthorize: { every: setup.every, timeout: 5_000 },
      maxVersion: setup.version,
      handshakeTimeout: 60_000,
      ...(setup.sniTenants
        ? {
            SNICallback: (
              name: string,
              callback: (error: Error | null, context?: ReturnType<typeof createSecureContext>) => void,
            ) => {
              const context = tenants.get(name);
              if (setup.sniDelay) setTimeout(() => callback(null, context), 15);
              else callback(null, context);
            },
          }
        : {}),
    });
    server.on('secureConnection', (socket: TLSSocket) => this.#onServerSocket(socket));
    server.on('tlsClientError', () => {});
    server.on('warning', () => {});
    this.#http = http.createServer((request, response) => this.#onRequest(request, response));
    this.port = await listenOn(server as unknown as net.Server);
    const guard = new ModelGuard();
    const guardHost = (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost];
    guardHost.addGuard(guard);
    return {
      guard,
      guardHost,
      setCrl: (pem) => {
        for (const context of tenants.values()) context.setCrl(pem);
        return server.setCrl(pem);
      },
      setCa: (pem) => server.setCa(pem),
      setPolicy: (spec) => server.setPolicy(policyFor(spec)),
      reauthorize: (socket, options) => reauthorize(socket as TLSSocket, options),
      close: () => closeAll(server as unknown as net.Server, this),
    };
  }

  async #attachedBackend(crl: string): Promise<Backend> {
    const { pki, setup } = this;
    const nodeOptions: tls.TlsOptions = {
      key: pki.server.key,
      cert: pki.server.cert,
      ca: pki.caPem(['A', 'B']),
      requestCert: true,
      rejectUnauthorized: true,
      maxVersion: setup.version,
      // A fresh re-check is a renegotiation: it must ask for the certificate, not resume.
      secureOptions: constants.SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION,
    };
    if (setup.sniTenants) {
      const contexts = new Map([
        ['a.test', tls.createSecureContext({ ...nodeOptions, ca: pki.caPem(['A']) })],
        ['b.test', tls.createSecureContext({ ...nodeOptions, ca: pki.caPem(['B']) })],
      ]);
      nodeOptions.SNICallback = (name, callback) => {
        const context = contexts.get(name);
        if (setup.sniDelay) setTimeout(() => callback(null, context), 15);
        else callback(null, context);
      };
    }
    let server: tls.Server;
    if (setup.tier === 'attached-https') {
      server = https.createServer(nodeOptions, (request, response) => this.#onRequest(request, response));
      server.on('secureConnection', (socket: tls.TLSSocket) => {
        const conn = this.#byPort.get(socket.remotePort!);
        if (conn !== undefined) {
          conn.serverSocket = socket;
          this.#bySocket.set(socket, conn);
          socket.once('close', () => conn.notify());
          conn.notify();
        }
      });
    } else {
      server = tls.createServer(nodeOptions, (socket) => this.#onServerSocket(socket));
    }
    server.on('tlsClientError', () => {});
    const policy = policyFor(setup.policy);
    const attachment: Attachment = attach(server, {
      ca: pki.caPem(this.trust.defaultCa),
      // Each tenant's name is judged by that tenant's CAs, as node's SNI contexts are.
      ...(setup.sniTenants ? { sni: { 'a.test': { ca: pki.caPem(['A']) }, 'b.test': { ca: pki.caPem(['B']) } } } : {}),
      intermediates: pki.intermediatesPem(),
      crl,
      ...(policy === undefined ? {} : { policy }),
      policyTimeout: 5_000,
      reauthorize: { every: setup.every, timeout: 5_000 },
    });
    server.on('warning', () => {});
    this.port = await listenOn(server);
    const guard = new ModelGuard();
    const guardHost = attachment[kGuardHost];
    guardHost.addGuard(guard);
    let detached = false;
    return {
      guard,
      guardHost,
      setCrl: (pem) => attachment.setCrl(pem),
      setCa: (pem) => attachment.setCa(pem),
      setPolicy: (spec) => attachment.setPolicy(policyFor(spec)),
      reauthorize: (socket, options) => reauthorize(socket as tls.TLSSocket, options),
      detach: () => {
        detached = true;
        attachment.detach();
      },
      pendingDecisions: () => attachment.authorizer.pendingDecisions,
      emitIsNodes: () => server.emit === Object.getPrototypeOf(server).emit,
      emitRequest: (socket) => {
        const request = { socket, url: '/detach-probe', method: 'GET', headers: {} };
        server.emit('request', request, { end: () => {} });
      },
      close: async () => {
        if (!detached) attachment.detach();
        await closeAll(server, this);
      },
    };
  }

  get backend(): Backend {
    return this.#backend;
  }

  async close(): Promise<void> {
    for (const conn of this.conns) {
      if (conn.timer !== null) clearInterval(conn.timer);
      conn.gate?.release();
      conn.client?.destroy();
      conn.serverSocket?.destroy();
    }
    await this.#backend.close();
  }
}

function listenOn(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeAll(server: net.Server, world: World): Promise<void> {
  for (const conn of world.conns) conn.serverSocket?.destroy();
  const any = server as net.Server & { connections?: unknown };
  if (typeof any.connections === 'function')
    for (const s of (any.connections as () => Duplex[]).call(server)) s.destroy();
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Raw sockets the app never saw (handshakes that failed) are closed by their clients above.
    setTimeout(resolve, 2_000).unref();
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
