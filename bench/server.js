'use strict';
// Benchmark server worker (forked per measurement by bench/lib/harness.js). One tier, one scenario per
// process: `start` builds the server and answers with its port; the other
// commands measure things only the server side can see (fresh
// re-authentication, revalidation after a CRL swap, server CPU).
const { performance } = require('node:perf_hooks');
const { serve } = require('./lib/worker.js');
const { createTierServer } = require('./lib/tiers.js');
const { load } = require('./lib/load.js');

let tier = null;
let handle = null;
let pki = null;
let secureCount = 0;
let lastSocket = null;
let mark = { cpu: process.cpuUsage(), at: performance.now(), secure: 0 };
const noop = () => {};

// ---- per-connection behaviour -------------------------------------------

const scenarios = {
  // One byte once authorized: the client counts a handshake only when the
  // server has let application data through (mTLS done, decision made).
  handshake(socket) {
    socket.write('k');
  },
  echo(socket) {
    socket.on('data', (chunk) => socket.write(chunk));
  },
  // 'U' + u64 length: swallow that many bytes, then answer 'D'.
  // 'G' + u64 length: send that many bytes.
  bulk(socket) {
    const block = Buffer.alloc(64 * 1024, 0x61);
    let header = Buffer.alloc(0);
    let sinking = 0;
    const source = (remaining) => {
      while (remaining > 0) {
        const piece = remaining >= block.length ? block : block.subarray(0, remaining);
        remaining -= piece.length;
        if (!socket.write(piece)) {
          socket.once('drain', () => source(remaining));
          return;
        }
      }
    };
    socket.on('data', (chunk) => {
      let offset = 0;
      while (offset < chunk.length) {
        if (sinking > 0) {
          const take = Math.min(sinking, chunk.length - offset);
          sinking -= take;
          offset += take;
          if (sinking === 0) socket.write('D');
          continue;
        }
        const need = 9 - header.length;
        header = Buffer.concat([header, chunk.subarray(offset, offset + need)]);
        offset += Math.min(need, chunk.length - offset);
        if (header.length < 9) return;
        const op = String.fromCharCode(header[0]);
        const length = Number(header.readBigUInt64BE(1));
        header = Buffer.alloc(0);
        if (op === 'U') sinking = length;
        else if (op === 'G') source(length);
      }
    });
  },
  // The runner drives this connection with the `pha` command.
  pha(socket) {
    lastSocket = socket;
  },
  // Connections that just stay open (revalidation).
  hold() {},
};

function onSecure(scenario) {
  return (socket) => {
    secureCount++;
    socket.on('error', noop);
    scenarios[scenario](socket);
  };
}

// ---- REST ------------------------------------------------------------------

/**
 * An HTTPS API with mutual TLS: node:https for the node tier; for the owned
 * tier our TLS server hands each authorized socket to a node:http server
 * (a TLSSocket works wherever a socket is expected).
 * With `authz`, every request passes authorizeRequest first (node:http
 * handler wrapper, a plain function policy behind its default decision cache).
 */
function restServer({ authz }) {
  const http = require('node:http');
  const https = require('node:https');
  const { serverOptions } = require('./lib/tiers.js');
  const body = JSON.stringify({ id: 42, item: 'widget', quantity: 3 });
  const reply = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  let handler = reply;
  if (authz) {
    const { authorizeRequest } = load();
    const policy = function ordersPolicy(input) {
      const cn = input.peer.certificate?.subject ?? '';
      return {
        allow: input.peer.verified && cn.includes('bench-client') && input.request?.method === 'GET',
        ttlMs: 60_000,
      };
    };
    // It reads the certificate and the method only: declaring that lets authorizeRequest answer
    // through its default DecisionCache (a policy that declares nothing is not cached).
    policy.factsRead = () => ['peer.certificate.subject', 'peer.verified', 'request.method'];
    handler = authorizeRequest({ policy }).node(reply);
  }
  if (tier === 'node') {
    const server = https.createServer({ ...serverOptions(pki), noDelay: true }, handler);
    server.on('secureConnection', () => secureCount++);
    return { server, setCrl: null, live: () => null, authorizer: null };
  }
  const httpServer = http.createServer(handler);
  const owned = createTierServer('owned', pki, (socket) => {
    secureCount++;
    socket.on('error', noop);
    httpServer.emit('connection', socket);
  });
  return owned;
}

// ---- commands --------------------------------------------------------------

function roundTrip(socket, payload) {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (chunk) => {
      got += chunk.length;
      if (got >= payload.length) {
        socket.removeListener('data', onData);
        socket.removeListener('close', onClose);
        resolve();
      }
    };
    const onClose = () => reject(new Error('connection closed during echo'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(payload);
  });
}

/** A V8 CPU profile of just the code between start and stop (node:inspector). */
async function startProfiler() {
  const inspector = require('node:inspector');
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) =>
    new Promise((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await post('Profiler.stop');
      session.disconnect();
      require('node:fs').writeFileSync(file, JSON.stringify(profile));
    },
  };
}

serve({
  async start(args) {
    ({ tier, pki } = args);
    const extra = args.serverExtra ?? {};
    handle =
      args.scenario === 'rest'
        ? restServer(args.rest ?? {})
        : createTierServer(tier, pki, onSecure(args.scenario), extra);
    handle.server.on('tlsClientError', noop);
    handle.server.on('error', noop);
    await new Promise((resolve) => handle.server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
    return { port: handle.server.address().port, pid: process.pid };
  },

  mark() {
    mark = { cpu: process.cpuUsage(), at: performance.now(), secure: secureCount };
    return {};
  },

  /** Server CPU and authorized connections since the last mark. */
  stats() {
    const cpu = process.cpuUsage(mark.cpu);
    return {
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: performance.now() - mark.at,
      secure: secureCount - mark.secure,
      live: handle.live(),
      rssMb: process.memoryUsage().rss / 1e6,
    };
  },

  /**
   * On one connection: `rounds` server-initiated echo round trips of `size`
   * bytes and (owned tier) `rounds` fresh re-authentications — TLS 1.3
   * post-handshake auth, chain verification and the decision. Latencies in ms.
   *
   * Both kinds warm up first (`warmup` each, and never fewer than 2,000
   * echoes, 0.2 s: the owned tier runs more JavaScript per echo than
   * node:tls, and after a few hundred echoes its JIT has not settled yet on a
   * 2-core machine, where compiling competes with the measured path).
   *
   * `echo` is timed alone, in blocks of `block`, the same on every tier: it
   * is the figure compared with node:tls.
   * Timed between blocks of re-authentication it would not be: on this VM an
   * echo that follows 60 ms of any busy work on the server (a plain loop will
   * do) is about 15 % slower, on node:tls exactly as on the owned tier, so
   * only the tier that re-authenticates would pay for it.
   *
   * `paired` and `fresh` then come in alternating blocks, so a noisy stretch of
   * the shared machine falls on both figures the re-authentication budget
   * compares, not on one of them. Each block starts with a couple of
   * unrecorded operations, so an echo is never timed right after a
   * certificate exchange has cleared the caches it runs from.
   */
  async pha({ rounds, warmup, size, block = 100 }) {
    const socket = lastSocket;
    if (socket === null) throw new Error('no connection to drive');
    const { reauthorize } = load();
    const payload = Buffer.alloc(size, 0x62);
    const echoOnce = async (into) => {
      const t0 = performance.now();
      await roundTrip(socket, payload);
      into?.push(performance.now() - t0);
    };
    const freshOnce = async (into) => {
      const t0 = performance.now();
      const decision = await reauthorize(socket, { fresh: true, reason: 'bench' });
      const ms = performance.now() - t0;
      if (!decision.allow) throw new Error(`fresh re-authentication denied: ${decision.reason}`);
      into?.push(ms);
    };
    const withReauth = tier === 'owned';
    const echo = [];
    const paired = [];
    const fresh = [];
    const settle = 2;
    for (let i = 0; i < Math.max(warmup, 2000); i++) await echoOnce(null);
    while (echo.length < rounds) {
      const n = Math.min(block, rounds - echo.length);
      for (let i = 0; i < settle; i++) await echoOnce(null);
      for (let i = 0; i < n; i++) await echoOnce(echo);
    }
    if (!withReauth) return { echo, paired, fresh };
    for (let i = 0; i < warmup; i++) await freshOnce(null);
    while (paired.length < rounds) {
      const n = Math.min(block, rounds - paired.length);
      for (let i = 0; i < settle; i++) await echoOnce(null);
      for (let i = 0; i < n; i++) await echoOnce(paired);
      for (let i = 0; i < settle; i++) await freshOnce(null);
      for (let i = 0; i < n; i++) await freshOnce(fresh);
    }
    return { echo, paired, fresh };
  },

  /** Waits for `expect` live tracked connections. */
  async waitLive({ expect, timeoutMs = 120_000 }) {
    const until = performance.now() + timeoutMs;
    while (handle.live() < expect) {
      if (performance.now() > until) throw new Error(`only ${handle.live()} of ${expect} connections became live`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { live: handle.live() };
  },

  /** Swaps in the CRL that revokes one identity; time until every live connection is re-decided. */
  async crlSwap({ profile } = {}) {
    if (handle.setCrl === null) throw new Error(`tier ${tier} has no live trust update`);
    const live = handle.live();
    const profiler = profile === undefined ? null : await startProfiler();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const decisions = await handle.setCrl(pki.revokedCrl);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (profiler !== null) await profiler.stop(profile);
    const denied = decisions.filter((d) => !d.allow).length;
    // No restore: every swap installs a new store and clears the verdict
    // cache, so the next round re-verifies every connection all the same.
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, live, decisions: decisions.length, denied };
  },

  exit() {
    handle?.server.close();
  },
});
