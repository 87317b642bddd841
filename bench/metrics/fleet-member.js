'use strict';
// One process of a benchmark fleet (forked by bench/metrics/fleet.js): an owned-tier mTLS server
// watched by a fleet on the bench's private Redis, and node:tls clients holding connections to it.
// It records when each server-side connection closes, by the serial its peer presented, on
// process.hrtime: CLOCK_MONOTONIC, one clock for every process of the machine, so the runner can
// subtract a publish time taken in another process.
const path = require('node:path');
const { X509Certificate, randomBytes } = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { serve } = require('../lib/worker.js');
const { load, dist } = require('../lib/load.js');
const { median } = require('../lib/stats.js');
const { createTierServer, clientConnector } = require('../lib/tiers.js');

const noop = () => {};
/** Monotonic time in ms (µs resolution), comparable across the processes of one machine. */
const now = () => Number(process.hrtime.bigint() / 1000n) / 1000;

let fleet = null;
let handle = null;
let port = 0;
let pki = null;
/** Server-side live connections by the normalised serial of the peer's leaf. */
const liveBySerial = new Map();
/** Close times by serial: the cuts. */
const closedBySerial = new Map();
const clients = [];
let waiter = null;
let armed = null;

const norm = (serial) => serial.replace(/:/g, '').replace(/^0+/, '').toUpperCase();

function onSecure(socket) {
  socket.on('error', noop);
  const leaf = socket.getPeerX509Certificate?.();
  if (leaf === undefined) return;
  const serial = norm(leaf.serialNumber);
  let set = liveBySerial.get(serial);
  if (set === undefined) liveBySerial.set(serial, (set = new Set()));
  set.add(socket);
  socket.once('close', () => {
    const at = now();
    set.delete(socket);
    let list = closedBySerial.get(serial);
    if (list === undefined) closedBySerial.set(serial, (list = []));
    list.push(at);
    waiter?.check();
  });
}

/** Targeted re-checks the fleet asked of this process since arm(): wall and CPU time, decisions. */
const rechecks = { ms: 0, cpuMs: 0, decisions: 0, calls: 0 };

/** Times the engine's targeted re-checks: what the fleet calls for each revocation it applies. */
function timeRechecks(authorizer) {
  const recheckKeys = authorizer.recheckKeys.bind(authorizer);
  authorizer.recheckKeys = async (keys, trigger) => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const decisions = await recheckKeys(keys, trigger);
    const cpu = process.cpuUsage(cpu0);
    rechecks.ms += performance.now() - t0;
    rechecks.cpuMs += (cpu.user + cpu.system) / 1000;
    rechecks.decisions += decisions.length;
    rechecks.calls++;
    return decisions;
  };
}

function liveOf(serial) {
  return liveBySerial.get(norm(serial))?.size ?? 0;
}

serve({
  async start(args) {
    ({ pki } = args);
    const { createFleet } = load();
    if (typeof createFleet !== 'function') throw new Error('createFleet is missing from dist/ (run the build)');
    fleet = await createFleet({ redis: args.redisUrl, name: args.name });
    fleet.on('warning', noop);
    handle = createTierServer('owned', pki, onSecure);
    handle.server.on('tlsClientError', noop);
    handle.server.on('error', noop);
    timeRechecks(handle.authorizer);
    fleet.watch(handle.server);
    await new Promise((resolve) => handle.server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
    port = handle.server.address().port;
    return { port, member: fleet.member, pid: process.pid };
  },

  /** Opens `count` connections to this process's server, connection i presenting identity `identities[i % n]`. */
  async connect({ identities, count, concurrency = 32, timeoutMs = 600_000 }) {
    const connect = clientConnector('node', { ...pki, clients: identities.map((i) => pki.clients[i]) });
    const serials = identities.map((i) => pki.clients[i].serial);
    const expected = new Map();
    for (let i = 0; i < count; i++) {
      const serial = serials[i % serials.length];
      expected.set(serial, (expected.get(serial) ?? 0) + 1);
    }
    const before = new Map([...expected.keys()].map((s) => [s, liveOf(s)]));
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const socket = connect(port, next++);
        socket.on('error', noop);
        clients.push(socket);
        await new Promise((resolve) => {
          socket.once('secureConnect', resolve);
          socket.once('close', resolve);
        });
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    // The client's secureConnect comes before the server has judged its certificate (TLS 1.3):
    // a connection counts once the server holds it.
    const held = () => [...expected].every(([s, n]) => liveOf(s) >= before.get(s) + n);
    while (!held()) {
      if (performance.now() - t0 > timeoutMs) throw new Error('connections did not all become live on the server');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { ms: performance.now() - t0, live: handle.live() };
  },

  /** Starts watching for cuts of `serial`: what cuts() counts from, acknowledged before the runner publishes. */
  arm({ serial }) {
    const key = norm(serial);
    armed = {
      key,
      seen: closedBySerial.get(key)?.length ?? 0,
      cpu0: process.cpuUsage(),
      elu0: performance.eventLoopUtilization(),
    };
    Object.assign(rechecks, { ms: 0, cpuMs: 0, decisions: 0, calls: 0 });
    return {};
  },

  /**
   * Resolves once `count` connections presenting the armed serial have closed since arm() (or
   * rejects after `timeoutMs`), with their close times and this process's CPU time meanwhile.
   */
  async cuts({ count, timeoutMs = 30_000 }) {
    const { key, seen, cpu0, elu0 } = armed;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = null;
        reject(new Error(`only ${(closedBySerial.get(key)?.length ?? 0) - seen} of ${count} connections were cut`));
      }, timeoutMs);
      waiter = {
        check() {
          const list = closedBySerial.get(key) ?? [];
          if (list.length - seen < count) return;
          clearTimeout(timer);
          waiter = null;
          const cpu = process.cpuUsage(cpu0);
          const elu = performance.eventLoopUtilization(elu0);
          resolve({
            at: list.slice(seen, seen + count),
            cpuMs: (cpu.user + cpu.system) / 1000,
            activeMs: elu.active,
            live: handle.live(),
            recheck: { ...rechecks },
          });
        },
      };
      waiter.check();
    });
  },

  /** How many server-side connections present `serial` right now. */
  live({ serial }) {
    return { count: liveOf(serial), total: handle.live() };
  },

  /** Publishes the revocation of `serial`: the publish call's start and end on the shared clock. */
  async revoke({ serial }) {
    const t0 = now();
    const receipt = await fleet.revokeCertificate({ serial, reason: 'bench' });
    return { t0, t1: now(), decisions: receipt.decisions, id: receipt.id };
  },

  /**
   * judge() of the fleet's guard (dist/fleet/state.js) for a peer that is not revoked, against
   * `small` and against `large` revoked serials: µs per decision, the median of timed batches taken
   * alternately from the two guards, so a slow stretch of the machine falls on both.
   */
  judgeCost({ pki, small, large, perBatch, batches }) {
    const { FleetState, FleetGuard } = require(path.join(dist, 'fleet', 'state.js'));
    const { stateOps } = require(path.join(dist, 'fleet', 'events.js'));
    const guardWith = (count) => {
      const state = new FleetState();
      for (let i = 0; i < count; i++) {
        const serial = randomBytes(16).toString('hex').toUpperCase().replace(/^0+/, '');
        for (const op of stateOps({ type: 'certificate-revoked', serial })) state.apply(op);
      }
      return new FleetGuard(state, { stale: false, strict: true });
    };
    const blocks = pki.clients[1].cert.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
    const facts = { chain: blocks.map((b) => new X509Certificate(b)), token: undefined, tier: 'owned' };
    facts.connectionSince = Date.now();
    const guards = { small: guardWith(small), large: guardWith(large) };
    const perOp = { small: [], large: [] };
    let denied = 0;
    const batch = (guard) => {
      const t0 = performance.now();
      for (let i = 0; i < perBatch; i++) if (guard.judge(facts, Date.now()).deny !== undefined) denied++;
      return ((performance.now() - t0) * 1000) / perBatch;
    };
    batch(guards.small);
    batch(guards.large);
    for (let b = 0; b < batches; b++) {
      for (const which of b % 2 === 0 ? ['small', 'large'] : ['large', 'small'])
        perOp[which].push(batch(guards[which]));
    }
    if (denied > 0) throw new Error('the guard denied a peer that is not revoked');
    return { smallUs: median(perOp.small), largeUs: median(perOp.large) };
  },

  async exit() {
    for (const socket of clients) socket.destroy();
    handle?.server.close();
    await fleet?.close();
  },
});
