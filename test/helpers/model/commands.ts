/**
 * The steps fast-check strings together (fc.commands), and the runner every property file uses.
 * Each step's toString() is what a shrunk counterexample prints, so it names everything it does.
 * Connections are chosen by position among those a step can apply to (`pick` modulo their count),
 * which keeps a shrunk sequence meaningful when earlier steps are dropped.
 */
import fc from 'fast-check';
import type { Test } from 'tap';
import {
  Conn,
  PropertyFailure,
  World,
  describeSetup,
  detachStats,
  identityName,
  sleep,
  type IdentitySpec,
  type Setup,
  type Tier,
} from './world';
import { ModelPki, type Leaf, type Tenant } from './pki';
import type { TLSSocket } from '../../../dist/index.js';
import { describePolicy, type PolicyKind, type PolicySpec } from './reference';
import type { ReadMode } from './transport';

type Step = fc.AsyncCommand<World, World>;

const MAX_LIVE = 5;

function live(w: Readonly<World>): Conn[] {
  return w.conns.filter((c) => c.phase === 'open');
}

/** Open connections the server has admitted and that passed data at a settle. */
function established(w: Readonly<World>): Conn[] {
  return live(w).filter(
    (c) => c.established && !c.freshInFlight && c.deniedSince === null && c.serverSocket !== null && !c.clientClosed,
  );
}

/** The client's next answer to a certificate request; a connection cut meanwhile has nothing to rotate. */
function setIdentity(conn: Conn, leaf: Leaf): void {
  if (conn.client.destroyed) return;
  (conn.client as TLSSocket).setIdentity({ key: leaf.key, cert: leaf.chain });
}

function describeDecision(decision: unknown): string {
  const d = decision as { allow?: boolean; reason?: string; source?: string };
  return `${d.allow ? 'allow' : 'deny'} (${d.reason}, ${d.source})`;
}

function nth<T>(list: T[], pick: number): T {
  return list[pick % list.length]!;
}

export class Connect implements Step {
  constructor(
    readonly identity: number | null,
    readonly name: string,
    readonly sni: string,
    readonly mode: ReadMode,
    readonly pause: boolean,
    readonly concurrent: boolean,
  ) {}

  check(w: Readonly<World>): boolean {
    return w.conns.filter((c) => c.phase !== 'closed').length < MAX_LIVE;
  }

  async run(w: World): Promise<void> {
    const leaf = this.identity === null ? null : await w.leaf(this.identity);
    let conn!: Conn;
    let opened: Promise<void> | null = null;
    await w.act(
      `connect c${w.conns.length} ${leaf?.id ?? 'no-cert'} sni=${this.sni} ${this.mode}` +
        (this.pause ? ' paused-after-ClientHello' : ''),
      this.concurrent || this.pause,
      () => {
        conn = new Conn(w.conns.length, this.sni, this.mode, leaf);
        if (this.pause) conn.phase = 'paused';
        w.conns.push(conn);
      },
      () => {
        opened = w.openClient(conn, { pause: this.pause });
        return this.pause ? undefined : opened;
      },
    );
    // A paused handshake is only "midway" once the server answered the ClientHello.
    if (this.pause && opened !== null) await opened;
  }

  toString(): string {
    return (
      `connect(${this.name}, sni=${this.sni}, ${this.mode}` +
      `${this.pause ? ', paused' : ''}${this.concurrent ? ', concurrent' : ''})`
    );
  }
}

export class Release implements Step {
  constructor(
    readonly pick: number,
    readonly concurrent: boolean,
  ) {}

  check(w: Readonly<World>): boolean {
    return w.conns.some((c) => c.phase === 'paused');
  }

  async run(w: World): Promise<void> {
    const conn = nth(
      w.conns.filter((c) => c.phase === 'paused'),
      this.pick,
    );
    await w.act(
      `release ${conn.label}'s handshake`,
      this.concurrent,
      () => {
        conn.phase = 'open';
      },
      () => {
        conn.gate!.release();
        return w.handshakeDone(conn);
      },
    );
  }

  toString(): string {
    return `release(paused[${this.pick}]${this.concurrent ? ', concurrent' : ''})`;
  }
}

export class Resume implements Step {
  /**
   * `sni` null: the name the session was made under; otherwise another tenant's name, which must
   * not borrow the first one's trust.
   */
  constructor(
    readonly pick: number,
    readonly mode: ReadMode,
    readonly concurrent: boolean,
    readonly sni: string | null = null,
  ) {}

  check(w: Readonly<World>): boolean {
    return w.conns.some((c) => c.session !== null) && w.conns.filter((c) => c.phase !== 'closed').length < MAX_LIVE;
  }

  async run(w: World): Promise<void> {
    const source = nth(
      w.conns.filter((c) => c.session !== null),
      this.pick,
    );
    let conn!: Conn;
    const servername = this.sni ?? source.servername;
    await w.act(
      `resume ${source.label}'s session as c${w.conns.length} (${source.sessionLeaf?.id ?? 'no-cert'}) ` +
        `sni=${servername} ${this.mode}`,
      this.concurrent,
      () => {
        // The client shows the session's certificate too, should the server not resume it.
        conn = new Conn(w.conns.length, servername, this.mode, source.sessionLeaf);
        conn.viaSession = true;
        if (w.setup.tier !== 'owned' && w.setup.version === 'TLSv1.2') conn.judgedName = source.judgedName;
        w.conns.push(conn);
      },
      () => w.openClient(conn, { pause: false, session: source.session }),
    );
  }

  toString(): string {
    return (
      `resume(session[${this.pick}]${this.sni === null ? '' : `, sni=${this.sni}`}, ` +
      `${this.mode}${this.concurrent ? ', concurrent' : ''})`
    );
  }
}

export class Fresh implements Step {
  constructor(
    readonly pick: number,
    readonly rotate: number | null,
    readonly name: string | null,
    readonly concurrent: boolean,
  ) {}

  check(w: Readonly<World>): boolean {
    return established(w).some((c) => this.rotate !== null || c.clientLeaf !== null);
  }

  async run(w: World): Promise<void> {
    const conn = nth(
      established(w).filter((c) => this.rotate !== null || c.clientLeaf !== null),
      this.pick,
    );
    const leaf = this.rotate === null ? null : await w.leaf(this.rotate);
    await w.act(
      `fresh re-authentication of ${conn.label}` +
        (leaf ? `, client rotated to ${leaf.id}` : ` (still ${conn.clientLeaf?.id})`),
      this.concurrent,
      () => {
        if (leaf !== null) conn.clientLeaf = leaf;
        conn.leaf = conn.clientLeaf;
      },
      () => {
        if (leaf !== null) setIdentity(conn, leaf);
        conn.freshInFlight = true;
        return w.backend
          .reauthorize(conn.serverSocket!, { fresh: true })
          .then(
            (d) => w.log(`${conn.label}: fresh decision ${describeDecision(d)}`),
            (e: Error) => w.log(`${conn.label}: fresh failed: ${e.message}`),
          )
          .finally(() => (conn.freshInFlight = false));
      },
    );
  }

  toString(): string {
    return (
      `fresh(live[${this.pick}]${this.name ? `, rotate to ${this.name}` : ''}` +
      `${this.concurrent ? ', concurrent' : ''})`
    );
  }
}

export class Rotate implements Step {
  constructor(
    readonly pick: number,
    readonly to: number,
    readonly name: string,
  ) {}

  check(w: Readonly<World>): boolean {
    return established(w).length > 0;
  }

  async run(w: World): Promise<void> {
    const conn = nth(established(w), this.pick);
    const leaf = await w.leaf(this.to);
    await w.act(
      `${conn.label}'s client rotates its identity to ${leaf.id} (no request yet)`,
      false,
      () => {
        conn.clientLeaf = leaf;
      },
      () => {
        setIdentity(conn, leaf);
      },
    );
  }

  toString(): string {
    return `rotate(live[${this.pick}], ${this.name})`;
  }
}

export class Revalidate implements Step {
  /**
   * `keepOpen`: the caller asks for destroyOnDeny: false. That option belongs to this request
   * alone: a trust or policy change that joins it must still cut a connection it denies.
   */
  constructor(
    readonly pick: number,
    readonly concurrent: boolean,
    readonly keepOpen = false,
  ) {}

  check(w: Readonly<World>): boolean {
    return established(w).length > 0;
  }

  async run(w: World): Promise<void> {
    const conn = nth(established(w), this.pick);
    await w.act(
      `reauthorize ${conn.label} (revalidation${this.keepOpen ? ', destroyOnDeny: false' : ''})`,
      this.concurrent,
      () => {},
      () =>
        w.backend.reauthorize(conn.serverSocket!, this.keepOpen ? { destroyOnDeny: false } : {}).then(
          (d) => w.log(`${conn.label}: revalidation ${describeDecision(d)}`),
          (e: Error) => w.log(`${conn.label}: revalidation failed: ${e.message}`),
        ),
    );
  }

  toString(): string {
    return (
      `revalidate(live[${this.pick}]${this.keepOpen ? ', keep-open-on-deny' : ''}` +
      `${this.concurrent ? ', concurrent' : ''})`
    );
  }
}

type RevocationTarget = { leaf: number; name: string } | { intermediate: Tenant };

export class SetRevoked implements Step {
  constructor(
    readonly target: RevocationTarget,
    readonly revoked: boolean,
    readonly concurrent: boolean,
  ) {}

  check(): boolean {
    return true;
  }

  async run(w: World): Promise<void> {
    const leaves = new Set(w.trust.revokedLeaves);
    const intermediates = new Set(w.trust.revokedIntermediates);
    let what: string;
    if ('leaf' in this.target) {
      const leaf = await w.leaf(this.target.leaf);
      if (this.revoked) leaves.add(leaf.serial);
      else leaves.delete(leaf.serial);
      what = leaf.id;
    } else {
      if (this.revoked) intermediates.add(this.target.intermediate);
      else intermediates.delete(this.target.intermediate);
      what = `intermediate ${this.target.intermediate}`;
    }
    const pem = await w.pki.crls(
      w.issuedLeaves().filter((l) => leaves.has(l.serial)),
      intermediates,
    );
    await w.act(
      `setCrl: ${this.revoked ? 'revoke' : 'unrevoke'} ${what}`,
      this.concurrent,
      () => {
        w.trust.revokedLeaves = leaves;
        w.trust.revokedIntermediates = intermediates;
      },
      () => w.backend.setCrl(pem),
    );
  }

  toString(): string {
    const what = 'leaf' in this.target ? this.target.name : `intermediate ${this.target.intermediate}`;
    return `${this.revoked ? 'revoke' : 'unrevoke'}(${what}${this.concurrent ? ', concurrent' : ''})`;
  }
}

/** A fleet revokes (or restores) one leaf by serial: its guard changes and names the serial's connections. */
export class GuardRevoke implements Step {
  constructor(
    readonly leaf: number,
    readonly name: string,
    readonly revoked: boolean,
    readonly concurrent: boolean,
  ) {}

  check(): boolean {
    return true;
  }

  async run(w: World): Promise<void> {
    const leaf = await w.leaf(this.leaf);
    const revoked = new Set(w.trust.guardRevoked);
    if (this.revoked) revoked.add(leaf.serial);
    else revoked.delete(leaf.serial);
    await w.act(
      `fleet: ${this.revoked ? 'revoke' : 'restore'} ${leaf.id}`,
      this.concurrent,
      () => {
        w.trust.guardRevoked = revoked;
      },
      () => w.backend.guardHost.recheckKeys(w.backend.guard.set(leaf.serial, this.revoked), 'revocation'),
    );
  }

  toString(): string {
    return `fleet-${this.revoked ? 'revoke' : 'restore'}(${this.name}${this.concurrent ? ', concurrent' : ''})`;
  }
}

export class SetCa implements Step {
  constructor(
    readonly tenants: Tenant[],
    readonly concurrent: boolean,
  ) {}

  check(): boolean {
    return true;
  }

  async run(w: World): Promise<void> {
    const pem = w.pki.caPem(this.tenants);
    await w.act(
      `setCa: roots ${this.tenants.join('+')}`,
      this.concurrent,
      () => {
        w.trust.defaultCa = new Set(this.tenants);
      },
      () => w.backend.setCa(pem),
    );
  }

  toString(): string {
    return `setCa(${this.tenants.join('+')}${this.concurrent ? ', concurrent' : ''})`;
  }
}

export class SetPolicy implements Step {
  constructor(
    readonly spec: PolicySpec,
    readonly concurrent: boolean,
  ) {}

  check(): boolean {
    return true;
  }

  async run(w: World): Promise<void> {
    await w.act(
      `setPolicy ${describePolicy(this.spec)}`,
      this.concurrent,
      () => {
        w.trust.policy = this.spec;
      },
      () => w.backend.setPolicy(this.spec),
    );
  }

  toString(): string {
    return `setPolicy(${describePolicy(this.spec)}${this.concurrent ? ', concurrent' : ''})`;
  }
}

/**
 * attachment.detach() (attached tiers, at most once a sequence; the steps after it run detached).
 * With `keepOpen`, one established connection is first re-decided with a token the model's guard
 * denies, destroyOnDeny: false: a denial kept open, held with no decision in force, which
 * detach() must close with ERR_CTLS_DETACHED. With `policy`, detach() follows setPolicy(policy):
 * at once (`midway` false: the sweep has held every connection and not started deciding), or
 * once the sweep's decisions started (`midway`: in flight under a slow policy, which must
 * conclude). Decisions other steps left in flight (concurrent trust changes, periodic re-checks)
 * conclude on their own.
 */
export class Detach implements Step {
  constructor(
    readonly keepOpen: number | null,
    readonly policy: PolicySpec | null = null,
    readonly midway = false,
  ) {}

  check(w: Readonly<World>): boolean {
    // With nothing open or under way there is nothing for detach() to let go of.
    return w.setup.tier !== 'owned' && w.detachedAt === null && w.conns.some((c) => c.phase !== 'closed');
  }

  async run(w: World): Promise<void> {
    const candidates = established(w);
    const target = this.keepOpen === null || candidates.length === 0 ? null : nth(candidates, this.keepOpen);
    let keptOpen: Conn | null = null;
    if (target !== null) {
      // The model denies it from the detach step on: a manual re-check holds nothing while
      // pending, so data may pass until its denial concludes (a window this step leaves unjudged).
      w.log(`${target.label}: reauthorize with a token the guard denies, destroyOnDeny: false`);
      const outcome = await w.backend
        .reauthorize(target.serverSocket!, { token: { model: 'deny' }, destroyOnDeny: false })
        .then(
          (d) => `decision ${describeDecision(d)}`,
          (e: Error) => `failed: ${e.message}`,
        );
      w.log(`${target.label}: kept-open re-check ${outcome}`);
      keptOpen = target;
    }
    const before =
      this.policy === null
        ? ''
        : `setPolicy ${describePolicy(this.policy)}, then ${this.midway ? 'once its decisions started' : 'at once'} `;
    await w.act(
      `${before}detach()${keptOpen === null ? '' : ` (${keptOpen.label} held by a denial kept open)`}`,
      false,
      () => w.detachModel(keptOpen, this.policy, this.midway),
      () => w.detachReal(keptOpen, this.policy, this.midway),
    );
  }

  toString(): string {
    const what = [
      ...(this.keepOpen === null ? [] : [`after a kept-open denial of live[${this.keepOpen}]`]),
      ...(this.policy === null
        ? []
        : [`${this.midway ? 'midway through' : 'at once after'} setPolicy(${describePolicy(this.policy)})`]),
    ];
    return `detach(${what.join(', ')})`;
  }
}

/** Lets a little time pass without settling: operations in flight get that far. */
export class Idle implements Step {
  constructor(readonly ms: number) {}

  check(): boolean {
    return true;
  }

  async run(w: World): Promise<void> {
    w.log(`${this.ms} ms pass`);
    await sleep(this.ms);
  }

  toString(): string {
    return `idle(${this.ms} ms)`;
  }
}

export class Expire implements Step {
  check(w: Readonly<World>): boolean {
    const now = Date.now();
    return live(w).some((c) => c.leaf !== null && c.leaf.notAfter > now && c.leaf.notAfter - now < 60_000);
  }

  async run(w: World): Promise<void> {
    await w.expire();
  }

  toString(): string {
    return 'expire(next short-lived certificate in use)';
  }
}

// ---- arbitraries --------------------------------------------------------------------------------

const CNS = ['alice', 'bob', 'carol'];

function identityArb(shortWeight: number): fc.Arbitrary<IdentitySpec> {
  return fc
    .record({
      cn: fc.constantFrom(...CNS),
      tenant: fc.constantFrom<Tenant>('A', 'B'),
      viaIntermediate: fc.boolean(),
      short: fc.integer({ min: 0, max: 99 }).map((n) => n < shortWeight),
      // Expiry of an intermediate, not only of the leaf (RFC 5280 section 6.1.3 checks every certificate's validity).
      shortIntermediate: fc.integer({ min: 0, max: 99 }).map((n) => n < shortWeight / 3),
    })
    .map((spec) => (spec.shortIntermediate ? { ...spec, viaIntermediate: true } : spec));
}

function policyArb(guest: boolean, slow = true): fc.Arbitrary<PolicySpec> {
  const kinds: PolicyKind[] = guest
    ? ['allowAll', 'allowAll', 'denyAll', 'denyCn']
    : ['none', 'allowAll', 'denyAll', 'denyCn', 'denyCn'];
  return fc
    .record({
      kind: fc.constantFrom(...kinds),
      cn: fc.constantFrom(...CNS),
      slowMs: slow ? fc.constantFrom(0, 0, 40, 120) : fc.constant(0),
    })
    .map((p) => (p.kind === 'denyCn' ? p : { kind: p.kind, slowMs: p.slowMs }));
}

export interface PropertyOptions {
  /** Percentage of pool identities that are short-lived (issued with a lifetime of ~2-3 s). */
  shortPercent: number;
  maxCommands: number;
  /** Every sequence serves SNI tenant contexts (each trusting its own root). */
  sni?: boolean;
  /** Let time run past every short-lived certificate still in use before the final check. */
  expireAtEnd?: boolean;
  /** Steps to leave out of this file's sequences. */
  without?: ReadonlyArray<
    | 'fresh'
    | 'rotate'
    | 'pause'
    | 'resume'
    | 'sni'
    | 'guest'
    | 'tls12'
    | 'intermediate'
    | 'slow'
    | 'concurrent'
    | 'guard'
    | 'detach'
  >;
}

/**
 * Features left out: the file's own list plus CTLS_PROPERTY_WITHOUT (comma separated), to explore
 * past a known failure.
 */
function withoutSet(options: PropertyOptions): Set<string> {
  const extra = (process.env['CTLS_PROPERTY_WITHOUT'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return new Set([...(options.without ?? []), ...extra]);
}

export function setupArb(tier: Tier, options: PropertyOptions): fc.Arbitrary<Setup> {
  const without = withoutSet(options);
  return fc
    .record({
      tier: fc.constant(tier),
      mode:
        tier === 'owned' && !without.has('guest')
          ? fc.constantFrom<'strict' | 'guest'>('strict', 'strict', 'guest')
          : fc.constant<'strict'>('strict'),
      version: without.has('tls12')
        ? fc.constant<'TLSv1.3'>('TLSv1.3')
        : fc.constantFrom<'TLSv1.3' | 'TLSv1.2'>('TLSv1.3', 'TLSv1.3', 'TLSv1.2'),
      sniTenants: without.has('sni') ? fc.constant(false) : options.sni === true ? fc.constant(true) : fc.boolean(),
      sniDelay: fc.boolean(),
      every: fc.constantFrom(0, 0, 150),
      identities: fc.array(identityArb(options.shortPercent), { minLength: 4, maxLength: 4 }),
      policySeed: fc.tuple(policyArb(false, !without.has('slow')), policyArb(true, !without.has('slow'))),
    })
    .map(({ policySeed, ...rest }) => ({ ...rest, policy: rest.mode === 'guest' ? policySeed[1] : policySeed[0] }));
}

export function commandArbs(setup: Setup, options: PropertyOptions): Array<fc.Arbitrary<Step>> {
  const without = withoutSet(options);
  const ids = setup.identities.length;
  const name = (i: number): string => `#${i} ${identityName(setup.identities[i]!)}`;
  const identity = fc.nat(ids - 1);
  const maybeIdentity = fc.option(identity, { freq: setup.mode === 'guest' ? 2 : 6 });
  const sni = setup.sniTenants ? fc.constantFrom('localhost', 'a.test', 'b.test') : fc.constant('localhost');
  const modes: ReadMode[] =
    setup.tier === 'attached-https'
      ? ['http']
      : setup.tier === 'owned'
        ? ['data', 'readable', 'pipe', 'asyncIter', 'http']
        : ['data', 'readable', 'pipe', 'asyncIter'];
  const mode = fc.constantFrom(...modes);
  const concurrent = without.has('concurrent')
    ? fc.constant(false)
    : fc.integer({ min: 0, max: 2 }).map((n) => n === 0);
  const owned = setup.tier === 'owned';
  const connectArb = fc
    .tuple(
      maybeIdentity,
      sni,
      mode,
      without.has('pause') ? fc.constant(false) : fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
      concurrent,
    )
    .map(([i, s, m, p, c]) => new Connect(i, i === null ? 'no-cert' : name(i), s, m, p, c));
  const revokeArb = fc
    .tuple(
      fc.oneof(
        identity.map((i) => ({ leaf: i, name: name(i) }) as RevocationTarget),
        without.has('intermediate')
          ? identity.map((i) => ({ leaf: i, name: name(i) }) as RevocationTarget)
          : fc.constantFrom<Tenant>('A', 'B').map((t) => ({ intermediate: t }) as RevocationTarget),
      ),
      fc.integer({ min: 0, max: 2 }).map((n) => n > 0),
      concurrent,
    )
    .map(([target, revoked, c]) => new SetRevoked(target, revoked, c));
  // fc.commands picks among these uniformly: connections and revocations come more often.
  const arbs: Array<fc.Arbitrary<Step>> = [
    connectArb,
    connectArb,
    connectArb,
    revokeArb,
    revokeArb,
    fc
      .tuple(fc.constantFrom<Tenant[]>(['A'], ['B'], ['A', 'B']), concurrent)
      .map(([tenants, c]) => new SetCa(tenants, c)),
    fc.tuple(policyArb(setup.mode === 'guest', !without.has('slow')), concurrent).map(([p, c]) => new SetPolicy(p, c)),
    fc.tuple(fc.nat(7), concurrent, fc.boolean()).map(([p, c, k]) => new Revalidate(p, c, k)),
  ];
  if (!without.has('guard')) {
    arbs.push(
      fc
        .tuple(
          identity,
          fc.integer({ min: 0, max: 2 }).map((n) => n > 0),
          concurrent,
        )
        .map(([i, r, c]) => new GuardRevoke(i, name(i), r, c)),
    );
  }
  if (!without.has('concurrent')) arbs.push(fc.constantFrom(10, 60).map((ms) => new Idle(ms)));
  if (!without.has('pause')) arbs.push(fc.tuple(fc.nat(7), concurrent).map(([p, c]) => new Release(p, c)));
  if (!without.has('resume')) {
    const otherName = setup.sniTenants
      ? fc.option(fc.constantFrom('localhost', 'a.test', 'b.test'), { freq: 2 })
      : fc.constant(null);
    arbs.push(fc.tuple(fc.nat(7), mode, concurrent, otherName).map(([p, m, c, n]) => new Resume(p, m, c, n)));
  }
  if (!without.has('fresh')) {
    // node:tls clients cannot rotate: the attached tier renegotiates (TLS 1.2) or, on TLS 1.3,
    // falls back to revalidating the certificate it has.
    const rotation = owned ? fc.option(identity, { freq: 4 }) : fc.constant(null);
    const fresh = fc
      .tuple(fc.nat(7), rotation, concurrent)
      .map(([p, r, c]) => new Fresh(p, r, r === null ? null : name(r), c));
    arbs.push(fresh, fresh);
  }
  if (owned && !without.has('rotate'))
    arbs.push(fc.tuple(fc.nat(7), identity).map(([p, i]) => new Rotate(p, i, name(i))));
  if (options.shortPercent > 0) arbs.push(fc.constant(new Expire()), fc.constant(new Expire()));
  // Once a sequence at most (check(), which also wants a connection open or under way), so it is
  // offered often enough to come up in most sequences; the steps after it run detached.
  if (!owned && !without.has('detach')) {
    const detach = fc
      .tuple(
        fc.option(fc.nat(7), { freq: 2 }),
        fc.option(policyArb(setup.mode === 'guest', !without.has('slow')), { freq: 2 }),
        fc.boolean(),
      )
      .map(([k, p, m]) => new Detach(k, p, m));
    arbs.push(detach, detach, detach, detach, detach);
  }
  return arbs;
}

function envInt(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * Runs the model-based property for `tier`: `defaultRuns` sequences within `timeLimitMs`
 * (shrinking included), or CTLS_PROPERTY_RUNS=N sequences with no time limit unless
 * CTLS_PROPERTY_TIME_LIMIT=ms. CTLS_PROPERTY_SEED (and CTLS_PROPERTY_PATH) replay a reported
 * failure; CTLS_PROPERTY_WITHOUT=sni,intermediate,pause,fresh,rotate,resume,slow,concurrent,guest,tls12,guard,detach
 * leaves features out to look past a known failure; CTLS_PROPERTY_VERBOSE=1 prints every trace.
 */
export async function runModelProperty(
  t: Test,
  tier: Tier,
  options: PropertyOptions & { defaultRuns: number; timeLimitMs: number },
): Promise<void> {
  const pki = await ModelPki.create();
  const arb = setupArb(tier, options).chain((setup) =>
    fc.tuple(
      fc.constant(setup),
      fc.array(fc.oneof(...commandArbs(setup, options)), { minLength: 4, maxLength: options.maxCommands }),
    ),
  );
  let lastFailure: { violations: string[]; trace: string[]; steps: string[] } | null = null;
  const property = fc.asyncProperty(arb, async ([setup, steps]) => {
    const world = await World.create(setup, pki);
    try {
      await fc.asyncModelRun(
        () => ({ model: world, real: world }),
        steps.map((step) => {
          return {
            check: (m: Readonly<World>) => step.check(m),
            run: (m: World, r: World) => {
              m.steps.push(step.toString());
              return step.run(m, r);
            },
            toString: () => step.toString(),
          };
        }),
      );
      await world.finish();
      if (options.expireAtEnd === true) {
        while (new Expire().check(world)) await world.expire();
      }
    } catch (error) {
      lastFailure =
        error instanceof PropertyFailure
          ? { violations: error.violations, trace: error.trace, steps: world.steps }
          : { violations: [String((error as Error).stack)], trace: world.trace, steps: world.steps };
      throw error;
    } finally {
      if (process.env['CTLS_PROPERTY_VERBOSE']) console.error(world.trace.join('\n') + '\n');
      await world.close();
    }
  });
  const runs = envInt('CTLS_PROPERTY_RUNS');
  const limit = envInt('CTLS_PROPERTY_TIME_LIMIT');
  const seed = envInt('CTLS_PROPERTY_SEED');
  const path = process.env['CTLS_PROPERTY_PATH'];
  const details = await fc.check(property, {
    numRuns: runs ?? options.defaultRuns,
    ...(runs === undefined
      ? { interruptAfterTimeLimit: options.timeLimitMs }
      : limit === undefined
        ? {}
        : { interruptAfterTimeLimit: limit }),
    ...(seed === undefined ? {} : { seed }),
    ...(path ? { path } : {}),
  });
  t.comment(
    `${tier}: ${details.numRuns} sequences, ${details.numShrinks} shrinks, seed ${details.seed}` +
      (details.interrupted ? ' (time limit reached)' : ''),
  );
  if (detachStats.detaches > 0) {
    const s = detachStats;
    t.comment(
      `${tier}: ${s.detaches} detach() (${s.withPending} with decisions in flight, ` +
        `${s.inFlight} after a setPolicy()): ` +
        `${s.allowedAcross} allowed and ${s.deniedAcross} denied connections across it, ${s.raced} raced, ` +
        `${s.keptOpenClosed} kept-open denials closed ERR_CTLS_DETACHED, ${s.afterDetach} handshakes after it`,
    );
  }
  if (details.failed) {
    const example = details.counterexample?.[0];
    const failure = lastFailure as { violations: string[]; trace: string[]; steps: string[] } | null;
    const report = {
      seed: details.seed,
      path: details.counterexamplePath,
      replay: `CTLS_PROPERTY_SEED=${details.seed} CTLS_PROPERTY_PATH=${details.counterexamplePath}`,
      setup: example === undefined ? undefined : describeSetup(example[0]),
      steps: failure?.steps.join(' ; ') ?? (example === undefined ? undefined : example[1].map(String).join(' ; ')),
      violations: failure?.violations ?? [String(details.errorInstance)],
      trace: failure?.trace ?? [],
    };
    // The shrunk sequence, readable in the log even when the YAML diagnostic is folded.
    console.error(
      `\n=== ${tier}: shrunk counterexample ===\nsetup: ${report.setup}\nsteps: ${report.steps}\n` +
        `${report.violations.join('\n')}\n--- trace ---\n${report.trace.join('\n')}\n`,
    );
    t.fail(`${tier}: the system disagrees with the reference model after ${details.numRuns} sequences`, report);
  } else {
    t.pass(`${tier}: ${details.numRuns} sequences agree with the reference model`);
  }
}

/** Setup defaults for a replayed sequence; identities #0..#3 as given. */
export function fixedSetup(tier: Tier, identities: IdentitySpec[], overrides: Partial<Setup> = {}): Setup {
  return {
    tier,
    mode: 'strict',
    version: 'TLSv1.3',
    sniTenants: false,
    sniDelay: false,
    policy: { kind: 'none', slowMs: 0 },
    every: 0,
    identities,
    ...overrides,
  };
}

/**
 * Replays one fixed sequence (a shrunk counterexample kept as a regression test) against the
 * model; fails with the violations and the trace when the system disagrees.
 */
export async function replaySequence(t: Test, setup: Setup, steps: Step[]): Promise<void> {
  const pki = await ModelPki.create();
  const world = await World.create(setup, pki);
  try {
    for (const step of steps) if (step.check(world)) await step.run(world, world);
    await world.finish();
    if (process.env['CTLS_PROPERTY_VERBOSE']) console.error(world.trace.join('\n') + '\n');
    t.pass(`agrees with the reference model: ${steps.map(String).join(' ; ')}`);
  } catch (error) {
    const report =
      error instanceof PropertyFailure
        ? { violations: error.violations, trace: error.trace }
        : { violations: [String((error as Error).stack)], trace: world.trace };
    console.error(
      `\n=== replay failed ===\n${report.violations.join('\n')}\n--- trace ---\n${report.trace.join('\n')}\n`,
    );
    t.fail(`disagrees with the reference model: ${steps.map(String).join(' ; ')}`, {
      setup: describeSetup(setup),
      ...report,
    });
  } finally {
    await world.close();
  }
}
