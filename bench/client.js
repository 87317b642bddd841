'use strict';
// Benchmark client worker (forked per measurement by bench/lib/harness.js): generates the load against a
// server worker and measures what the client sees.
const { performance } = require('node:perf_hooks');
const { serve } = require('./lib/worker.js');
const { clientConnector } = require('./lib/tiers.js');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const noop = () => {};
let held = [];
let bulkSocket = null;

function cpuSince(start) {
  const cpu = process.cpuUsage(start);
  return (cpu.user + cpu.system) / 1000;
}

function secure(socket) {
  return new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the handshake completed')));
  });
}

/** Resolves once `n` bytes arrived on `socket` (counting from now). */
function receive(socket, n) {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (chunk) => {
      got += chunk.length;
      if (got >= n) {
        socket.removeListener('data', onData);
        socket.removeListener('close', onClose);
        resolve();
      }
    };
    const onClose = () => reject(new Error('connection closed mid-transfer'));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

function header(op, length) {
  const buffer = Buffer.alloc(9);
  buffer[0] = op.charCodeAt(0);
  buffer.writeBigUInt64BE(BigInt(length), 1);
  return buffer;
}

async function writeAll(socket, total, block) {
  let remaining = total;
  while (remaining > 0) {
    const piece = remaining >= block.length ? block : block.subarray(0, remaining);
    remaining -= piece.length;
    if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
  }
}

serve({
  /** Full mTLS handshakes/s with `concurrency` clients in flight, each counted when the server's first byte arrives. */
  async handshake({ tier, pki, port, concurrency, warmupMs, durationMs }) {
    const connect = clientConnector(tier, pki);
    let count = 0;
    let errors = 0;
    let measuring = false;
    let stop = false;
    let next = 0;
    let firstError = null;
    const one = () => {
      if (stop) return;
      const socket = connect(port, next++);
      let done = false;
      socket.once('data', () => {
        done = true;
        if (measuring) count++;
        socket.destroy();
        one();
      });
      socket.on('error', (error) => {
        if (done) return;
        done = true;
        errors++;
        firstError ??= error;
        socket.destroy();
        setImmediate(one);
      });
    };
    for (let i = 0; i < concurrency; i++) one();
    await sleep(warmupMs);
    measuring = true;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(durationMs);
    measuring = false;
    const elapsed = performance.now() - t0;
    const cpuMs = cpuSince(cpu0);
    stop = true;
    await sleep(100);
    if (count === 0) throw new Error(`no handshake completed (${errors} errors; first: ${firstError?.message})`);
    return { perSec: (count * 1000) / elapsed, count, errors, elapsedMs: elapsed, clientCpuMs: cpuMs };
  },

  /** Opens the one connection the bulk transfers use. */
  async bulkOpen({ tier, pki, port }) {
    const connect = clientConnector(tier, pki);
    bulkSocket = connect(port, 0);
    bulkSocket.on('error', noop);
    await secure(bulkSocket);
    return { cipher: bulkSocket.getCipher?.()?.standardName };
  },

  /** One transfer of `bytes`, client -> server ('up') or server -> client ('down'); MB = 10^6 bytes. */
  async bulkTransfer({ bytes, direction }) {
    const socket = bulkSocket;
    const block = Buffer.alloc(64 * 1024, 0x75);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (direction === 'up') {
      const done = receive(socket, 1);
      socket.write(header('U', bytes));
      await writeAll(socket, bytes, block);
      await done;
    } else {
      const done = receive(socket, bytes);
      socket.write(header('G', bytes));
      await done;
    }
    const ms = performance.now() - t0;
    return { mbPerSec: bytes / 1e6 / (ms / 1000), ms, bytes, clientCpuMs: cpuSince(cpu0) };
  },

  /** 1 KB request/response round trips/s over `connections` connections, one request in flight each. */
  async rps({ tier, pki, port, connections, size, warmupMs, durationMs }) {
    const connect = clientConnector(tier, pki);
    const sockets = [];
    for (let i = 0; i < connections; i++) {
      const socket = connect(port, i);
      socket.on('error', noop);
      sockets.push(socket);
    }
    await Promise.all(sockets.map(secure));
    const payload = Buffer.alloc(size, 0x72);
    let count = 0;
    let measuring = false;
    let stop = false;
    const latencies = [];
    const loop = async (socket) => {
      while (!stop) {
        const t0 = performance.now();
        const done = receive(socket, size);
        socket.write(payload);
        await done;
        if (measuring) {
          count++;
          if (latencies.length < 200_000) latencies.push(performance.now() - t0);
        }
      }
    };
    const loops = sockets.map(loop);
    await sleep(warmupMs);
    measuring = true;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(durationMs);
    measuring = false;
    const elapsed = performance.now() - t0;
    const cpuMs = cpuSince(cpu0);
    stop = true;
    await Promise.all(loops);
    for (const socket of sockets) socket.destroy();
    latencies.sort((a, b) => a - b);
    return {
      perSec: (count * 1000) / elapsed,
      count,
      p50: latencies[Math.floor(latencies.length / 2)],
      clientCpuMs: cpuMs,
    };
  },

  /** One connection that echoes whatever the server sends (the server measures). */
  async echoPeer({ tier, pki, port }) {
    const connect = clientConnector(tier, pki);
    const socket = connect(port, 0);
    socket.on('error', noop);
    socket.on('data', (chunk) => socket.write(chunk));
    await secure(socket);
    held.push(socket);
    return {};
  },

  /** Opens `count` connections (identity i % clients) and keeps them open. */
  async hold({ tier, pki, port, count, concurrency = 64 }) {
    const connect = clientConnector(tier, pki);
    let next = 0;
    let failures = 0;
    let firstError = null;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const socket = connect(port, i);
        socket.on('error', noop);
        try {
          await secure(socket);
          held.push(socket);
        } catch (error) {
          failures++;
          firstError ??= error;
        }
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    if (failures > count / 100)
      throw new Error(`${failures} of ${count} connections failed (first: ${firstError?.message})`);
    return { held: held.length, failures, ms: performance.now() - t0 };
  },

  /** autocannon's programmatic API against the HTTPS API, presenting a client certificate. */
  async autocannon({ pki, port, connections, durationS }) {
    const autocannon = require('autocannon');
    const id = pki.clients[1];
    const result = await autocannon({
      url: `https://127.0.0.1:${port}/orders/42`,
      connections,
      duration: durationS,
      tlsOptions: { key: id.key, cert: id.cert, ca: pki.ca, servername: 'localhost', minVersion: 'TLSv1.3' },
    });
    const total = result.requests.total;
    if (total === 0 || result.non2xx > 0 || result.errors > total / 100) {
      throw new Error(`autocannon: ${total} requests, ${result.non2xx} non-2xx, ${result.errors} errors`);
    }
    return {
      perSec: total / result.duration,
      total,
      non2xx: result.non2xx,
      errors: result.errors,
      p50: result.latency.p50,
    };
  },

  release() {
    for (const socket of held) socket.destroy();
    held = [];
    bulkSocket?.destroy();
    bulkSocket = null;
    return {};
  },
});
