// Attack (class 12, thread-pool occupancy; adapted after the fix to two servers, since a superseded
// batch now stops): every trust-change batch took batchThreads() threads of
// libuv's pool (lib/authz/verify-cache.ts: min(cores, UV_THREADPOOL_SIZE - 1), meant to "leave one
// of the pool's threads for everything else": file system, DNS, node's own crypto). That bound is
// per batch, not per process: nothing counts the threads other batches hold, and a batch a newer
// swap made useless is not stopped (VerifyCache#prefetch drops its verdicts only when they come
// back). Two swaps in a row (or two contexts, two servers, two engines swapped together) queue two
// batches; on two cores with the default pool of four that is four BatchWorkers, the whole pool,
// and the app's fs/dns/crypto work waits behind every chain of both batches. Each more swap queues
// more: an admin endpoint or a CRL file that changes often stalls the app's I/O for as long as
// the chains take, which is the very thing the batch was built to avoid on the event loop.
//
// The batches here are made long (each chain repeated) by wrapping the native method, as
// trust-change-batch.test.ts does; the engine's own code decides the thread counts.
//
// The fix: one process-wide budget of pool threads for all batches (queue or shrink a batch when
// others hold it), and/or stop (skip the rest of) a batch whose trust generation is superseded.
import t from 'tap';
import { promises as fs } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { availableParallelism } from 'node:os';
import { contextHandle } from '../dist/tls/context.js';
import type { Decision } from '../dist/index.js';
import type { Server } from '../dist/server.js';
import { connectPair, makePki, mtlsOptions, type Pair, Received, startServer } from './helpers/mtls';

/** Each chain of a batch is verified this many times over, so a batch lasts about a second. */
const REPEAT = 300;

t.test('two trust-change batches out at once still leave the pool a thread for the app', async (t) => {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  if (pool !== 4 || availableParallelism() < 2) {
    t.comment(`skipped: needs the default pool of 4 and 2+ cores (pool ${pool}, cores ${availableParallelism()})`);
    t.pass('nothing to measure here');
    return;
  }
  // Two servers with a context each, so neither swap makes the other's batch useless.
  const servers: Array<{ server: Server; crl: string }> = [];
  for (let n = 0; n < 2; n++) {
    const pki = await makePki();
    const identities = await Promise.all(
      Array.from({ length: 10 }, (_, i) => pki.ca.issueClient({ commonName: `client-${n}-${i}` })),
    );
    const { server, port } = await startServer(t, mtlsOptions(pki, { crl: await pki.ca.crls() }));
    const pairs: Pair[] = [];
    for (const identity of identities) pairs.push(await connectPair(t, server, port, pki, identity));
    const received = pairs.map((pair) => new Received(pair.socket));
    for (const [i, pair] of pairs.entries()) pair.client.write(`client-${i}\n`);
    await Promise.all(received.map((r) => r.until(9)));
    pki.ca.revoke(identities[3]!.serial);
    servers.push({ server, crl: await pki.ca.crls() });
  }

  const batchMs: number[] = [];
  let calls = 0;
  let secondSweep: Promise<Decision[]> | undefined;
  let appWork: Promise<number> | undefined;
  for (const { server } of servers) {
    const handle = contextHandle(server.secureContext);
    const batch = handle.verifyChains.bind(handle);
    Object.defineProperty(handle, 'verifyChains', {
      configurable: true,
      value: (items: Parameters<typeof batch>[0], threads: number) => {
        calls++;
        const started = performance.now();
        const long = Array.from({ length: REPEAT }, () => items).flat();
        const inner = batch(long, threads);
        // The native batch's controls go with its answer, as the engine uses them.
        const answers =
          inner &&
          Object.assign(
            inner.then((all) => {
              batchMs.push(performance.now() - started);
              return all.slice(0, items.length);
            }),
            { abandon: () => inner.abandon(), started: () => inner.started() },
          );
        // The second server's list goes in while the first batch is out.
        if (calls === 1) secondSweep = servers[1]!.server.setCrl(servers[1]!.crl);
        // Both batches asked for: now the app asks the pool for one small thing.
        if (calls === 2) {
          appWork = (async () => {
            const asked = performance.now();
            await fs.stat(__filename);
            return performance.now() - asked;
          })();
        }
        return answers;
      },
    });
    t.teardown(() => delete (handle as { verifyChains?: unknown }).verifyChains);
  }

  const decisions = [...(await servers[0]!.server.setCrl(servers[0]!.crl))];
  decisions.push(...(await secondSweep!));
  t.equal(calls, 2, 'each swap asked for a batch');
  t.same(
    decisions.filter((d) => !d.allow).map((d) => d.reason),
    ['CERT_REVOKED', 'CERT_REVOKED'],
    'each swap cut its revoked client, batch or not',
  );
  t.ok(appWork !== undefined, 'the app asked while the batches were out');
  const waited = await appWork!;
  // The batches would take about a second each (every chain verified REPEAT times over): they
  // may hold no more than their share of the pool, and no longer than a sweep waits for them.
  t.ok(
    waited < 200,
    `an fs.stat() the app queued while the batches were out waited ${Math.round(waited)} ms ` +
      `(batches answered after ${batchMs.map(Math.round).join(', ')} ms)`,
  );
});
