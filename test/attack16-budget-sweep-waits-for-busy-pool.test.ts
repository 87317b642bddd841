// Attack (class 12, pending states are budgets): since the trust-change batch, a sweep's hold on
// every connection it re-decides lasts until libuv's thread pool has run the batch, with no bound in
// time. The pool is shared with the app: file system calls, dns.lookup (getaddrinfo, which can hang
// for many seconds on a bad resolver), zlib, node's crypto (pbkdf2, scrypt, randomBytes). When the
// app keeps the pool busy, the batch waits in libuv's queue behind that work, and so does every
// connection of the context: after a setCrl() that revokes one client, every other client's data is
// held (and setCrl()'s promise pending) until the app's unrelated pool work is done. Before the
// batch the sweep decided them one microtask after the call, on the event loop; the path that
// was meant to make a swap cheaper now makes it as slow as the slowest pool job, which a client
// that can trigger such work (a slow upload to disk, a lookup of a name it controls) chooses.
//
// Here the app has four pbkdf2 jobs on the pool (its default size) when the CRL is swapped.
//
// The fix: bound the wait (fall back to verifying on the event loop when the batch has not come
// back, or not started, within a few ms per chain / a fixed budget), or only take the batch path
// when pool threads are free; the held connections must not wait on the app's pool work.
import t from 'tap';
import { pbkdf2 } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Decision } from '../dist/index.js';
import { closed, waitFor } from './helpers/owned';
import { streamingClients } from './helpers/streaming-clients';

t.test('a CRL swap while the app keeps the thread pool busy is decided without waiting for the pool', async (t) => {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const { pki, server, identities, pairs } = await streamingClients(t);
  pki.ca.revoke(identities[2]!.serial);
  const crl = await pki.ca.crls();

  // The app's own pool work: one job per pool thread, about a second or more each.
  const busyStarted = performance.now();
  const appJobs = Array.from(
    { length: pool },
    () => new Promise<number>((resolve) => pbkdf2('p', 's', 3_000_000, 32, 'sha256', () => resolve(performance.now()))),
  );
  const cut = waitFor<[Decision]>(pairs[2]!.socket, 'deauthorized', 30_000);
  const asked = performance.now();
  const decisions = await server.setCrl(crl);
  const decidedMs = performance.now() - asked;
  const poolFreeMs = Math.min(...(await Promise.all(appJobs))) - busyStarted;

  t.equal(decisions.length, 10, 'every connection was re-decided');
  t.same(
    decisions.filter((d) => !d.allow).map((d) => d.reason),
    ['CERT_REVOKED'],
    'the revoked client, and only it, is denied',
  );
  await cut;
  await closed(pairs[2]!.socket);
  t.ok(poolFreeMs > 900, `the pool was busy long enough to matter (${Math.round(poolFreeMs)} ms)`);
  t.ok(
    decidedMs < Math.min(300, poolFreeMs / 2),
    `setCrl() decided its 10 connections in ${Math.round(decidedMs)} ms; the app's pool work took ${Math.round(
      poolFreeMs,
    )} ms (every other client's data was held all that time)`,
  );
});
