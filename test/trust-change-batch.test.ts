// After a CRL or CA swap the engine verifies every distinct presented chain again. It does so on
// libuv's thread pool, several chains at once, while the sweep holds the connections it re-decides
// (native/chain_batch.cc, VerifyCache#prefetch). These tests hold that path to three things: each
// answer is the one the one-chain-at-a-time verifyChain() gives (a differential over mixed chains,
// thread counts and orders); a swap decided through it cuts exactly the revoked clients with no byte
// of theirs delivered after the call; and a second swap while chains are out wins over the first.
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { contextHandle, createSecureContext, type SecureContext } from '../dist/tls/context.js';
import type { Decision } from '../dist/index.js';
import { libuvPoolSize } from '../dist/authz/verify-cache.js';
import { closed, derChain, waitFor } from './helpers/owned';
import { codeOf, makePki } from './helpers/mtls';
import { streamingClients } from './helpers/streaming-clients';

type Purpose = 'sslclient' | 'sslserver';
type Item = [Buffer[], Purpose, Buffer[]?];

const DAY_MS = 24 * 3600_000;

/** What both verifications answer, with the built chain as hex so t.same compares bytes. */
function comparable(result: unknown): unknown {
  const { chain, ...rest } = result as { chain?: Buffer[] };
  return chain === undefined ? rest : { ...rest, chain: chain.map((der) => der.toString('hex')) };
}

t.test('verifyChains answers each chain as verifyChain does, whatever the mix, order and threads', async (t) => {
  const pki = await makePki();
  const ca = pki.ca;
  const clients = await Promise.all(['c1', 'c2', 'c3', 'c4', 'c5'].map((commonName) => ca.issueClient({ commonName })));
  const revoked = await ca.issueClient({ commonName: 'revoked' });
  const expired = await ca.issueClient({
    commonName: 'expired',
    notBefore: new Date(Date.now() - 3 * DAY_MS),
    validityMs: DAY_MS,
  });
  const early = await ca.issueClient({ commonName: 'early', notBefore: new Date(Date.now() + DAY_MS) });
  const stranger = await (await DevelopmentCA.create({ commonName: 'Other CA' })).issueClient({ commonName: 'x' });
  ca.revoke(revoked.serial);
  const context = createSecureContext({ ca: ca.rootCert, crl: await ca.crls() }, true);
  const handle = contextHandle(context);

  const [leafOnly, intermediate] = derChain(clients[0]!.chain) as [Buffer, Buffer];
  const pool: Item[] = [
    ...clients.map((c): Item => [derChain(c.chain), 'sslclient']),
    [derChain(revoked.chain), 'sslclient'],
    [derChain(expired.chain), 'sslclient'],
    [derChain(early.chain), 'sslclient'],
    [derChain(stranger.chain), 'sslclient'],
    [derChain(pki.server.chain), 'sslclient'],
    [derChain(pki.server.chain), 'sslserver'],
    [derChain(clients[1]!.chain), 'sslserver'],
    [[leafOnly], 'sslclient'],
    [[leafOnly], 'sslclient', [intermediate]],
    [[Buffer.from('not a certificate'), intermediate], 'sslclient'],
    [[], 'sslclient'],
    [[Buffer.alloc(0)], 'sslclient'],
    [[intermediate, leafOnly], 'sslclient'],
  ];
  const reference = pool.map(([chain, purpose, extra]) => comparable(handle.verifyChain(chain, purpose, extra)));
  t.match(reference[0], { ok: true }, 'the pool holds chains that verify');
  t.match(reference[5], { ok: false, code: 'CERT_REVOKED' }, 'and one that is revoked');

  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.nat({ max: pool.length - 1 }), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 6 }),
      async (picks, threads) => {
        const answers = (await handle.verifyChains(
          picks.map((i) => pool[i]!),
          threads,
        ))!;
        t.same(
          answers.map(comparable),
          picks.map((i) => reference[i]),
          `${picks.length} chains on ${threads} threads`,
        );
      },
    ),
    { numRuns: 25 },
  );
});

t.test(
  'verifyChains refuses malformed calls with ERR_CTLS_INVALID_OPTION and starts nothing without a thread',
  async (t) => {
    const pki = await makePki();
    const context = createSecureContext({ ca: pki.ca.rootCert }, true);
    const handle = contextHandle(context) as unknown as {
      verifyChains(items: unknown, threads: unknown): Promise<Array<{ ok: boolean }>> | undefined;
    };
    const chain = derChain(pki.client.chain);
    t.throws(() => handle.verifyChains('chains', 2), { code: 'ERR_CTLS_INVALID_OPTION' });
    t.throws(() => handle.verifyChains([[chain, 'sslclient']], '2'), { code: 'ERR_CTLS_INVALID_OPTION' });
    t.throws(() => handle.verifyChains([[chain, 'any']], 2), { code: 'ERR_CTLS_INVALID_OPTION' }, 'no unknown purpose');
    t.throws(() => handle.verifyChains([chain], 2), { code: 'ERR_CTLS_INVALID_OPTION' }, 'an item is not a pair');
    for (const threads of [0, -1, 0.5, Number.NaN]) {
      t.equal(handle.verifyChains([[chain, 'sslclient']], threads), undefined, `threads ${threads}: nothing started`);
    }
    for (const threads of [1e9, 2.5]) {
      const answers = await handle.verifyChains([[chain, 'sslclient']], threads);
      t.same(
        answers?.map((a) => a.ok),
        [true],
        `threads ${threads}`,
      );
    }
    const tooMany = Array.from({ length: 101 }, () => chain[0]!);
    t.throws(
      () => handle.verifyChains([[tooMany, 'sslclient']], 2),
      { code: 'ERR_CTLS_INVALID_OPTION' },
      '101 certificates',
    );
    t.throws(
      () => handle.verifyChains([[chain, 'sslclient', tooMany]], 2),
      { code: 'ERR_CTLS_INVALID_OPTION' },
      '101 extra certificates',
    );
    const sparse: unknown[] = [];
    sparse.length = 10_001;
    t.throws(() => handle.verifyChains(sparse, 2), { code: 'ERR_CTLS_INVALID_OPTION' }, '10,001 chains');
    t.throws(() => contextHandle(context).verifyChain(tooMany, 'sslclient'), { code: 'ERR_CTLS_INVALID_OPTION' });
    // A getter that lengthens the list it is read from: the length read first is the one used.
    const growing = (first: unknown): unknown[] => {
      const list: unknown[] = [first, first];
      Object.defineProperty(list, 0, {
        get() {
          list.length = 2 ** 32 - 1;
          return first;
        },
      });
      return list;
    };
    const grown = await handle.verifyChains(growing([chain, 'sslclient']), 2);
    t.equal(grown?.length, 2, 'a batch list that grows while read: its first length');
    const certificatesGrown = await handle.verifyChains([[growing(chain[0]), 'sslclient']], 2);
    t.equal(certificatesGrown?.length, 1, 'a certificate list that grows while read: its first length');
    t.equal(
      typeof contextHandle(context).verifyChain(growing(chain[0]) as Buffer[], 'sslclient').ok,
      'boolean',
      'verifyChain too',
    );
    t.same(await handle.verifyChains([], 4), [], 'an empty batch');
  },
);

t.test('a batch that a new store overtakes stops, and answers only for the store it began with', async (t) => {
  const pki = await makePki();
  const context = createSecureContext({ ca: pki.ca.rootCert, crl: await pki.ca.crls() }, true);
  const chain = derChain(pki.client.chain);
  const items: Item[] = Array.from({ length: 2000 }, () => [chain, 'sslclient']);
  const pending = contextHandle(context).verifyChains(items, 2)!;
  pki.ca.revoke(pki.client.serial);
  context.setCrl(await pki.ca.crls());
  const answers = await pending;
  t.ok(
    answers.every((answer) => answer === null || answer.ok),
    'each chain it verified, it verified under the store it began with',
  );
  t.ok(answers.includes(null), 'it stopped before the end: the rest answer null');
  t.match(context.verifyChain(chain), { ok: false, code: 'CERT_REVOKED' }, 'the new store answers for itself');
  t.equal(contextHandle(context).cacheStats().verified, 0, "the old store's verdicts were not kept for the new one");
});

t.test('abandonBatches() stops a batch; a new batch after it runs whole', async (t) => {
  const pki = await makePki();
  const context = createSecureContext({ ca: pki.ca.rootCert }, true);
  const chain = derChain(pki.client.chain);
  const items: Item[] = Array.from({ length: 2000 }, () => [chain, 'sslclient']);
  const handle = contextHandle(context);
  const stopped = handle.verifyChains(items, 2)!;
  handle.abandonBatches();
  t.ok((await stopped).includes(null), 'the abandoned batch skipped chains');
  const whole = await handle.verifyChains(items.slice(0, 20), 2)!;
  t.ok(
    whole.every((answer) => answer?.ok === true),
    'the next batch verified every chain',
  );
});

t.test('all batches of the process together hold at most the threads they are given', async (t) => {
  const pki = await makePki();
  const context = createSecureContext({ ca: pki.ca.rootCert }, true);
  const chain = derChain(pki.client.chain);
  const items: Item[] = Array.from({ length: 400 }, () => [chain, 'sslclient']);
  const handle = contextHandle(context);
  const first = handle.verifyChains(items, 2);
  t.ok(first !== undefined, 'the first batch starts');
  const second = handle.verifyChains(items, 2);
  t.equal(second, undefined, 'a second batch finds no thread left under the same limit, and starts nothing');
  const wider = handle.verifyChains(items.slice(0, 10), 3);
  t.ok(wider !== undefined, 'under a higher limit, one more thread');
  await Promise.all([first, wider]);
  t.ok(handle.verifyChains(items.slice(0, 10), 2) !== undefined, 'threads come back when the batches end');
});

/** Counts the one-chain verifications and the batches `context` runs from now on. */
function countVerifications(t: Test, context: SecureContext): { single: number; batches: number } {
  const handle = contextHandle(context);
  const counts = { single: 0, batches: 0 };
  const single = handle.verifyChain.bind(handle);
  const batch = handle.verifyChains.bind(handle);
  // The addon's methods are read-only on its prototype: each counter is an own property instead.
  Object.defineProperty(handle, 'verifyChain', {
    configurable: true,
    value: (...args: Parameters<typeof single>) => {
      counts.single++;
      return single(...args);
    },
  });
  Object.defineProperty(handle, 'verifyChains', {
    configurable: true,
    value: (...args: Parameters<typeof batch>) => {
      counts.batches++;
      return batch(...args);
    },
  });
  t.teardown(() => {
    delete (handle as { verifyChain?: unknown }).verifyChain;
    delete (handle as { verifyChains?: unknown }).verifyChains;
  });
  return counts;
}

t.test('a CRL swap over ten clients is decided through one batch and cuts exactly the revoked', async (t) => {
  const { pki, server, identities, pairs, received } = await streamingClients(t);
  const counts = countVerifications(t, server.secureContext);
  pki.ca.revoke(identities[2]!.serial);
  pki.ca.revoke(identities[7]!.serial);
  const crl = await pki.ca.crls();
  const cut = [2, 7].map((i) => waitFor<[Decision]>(pairs[i]!.socket, 'deauthorized'));
  const bytesAtCall = received.map((r) => r.bytes);

  const decisions = await server.setCrl(crl);

  t.equal(counts.batches, 1, 'one batch');
  t.equal(counts.single, 0, 'no chain was verified on its own');
  t.equal(decisions.length, 10, 'every connection was re-decided');
  t.same(
    decisions
      .filter((d) => !d.allow)
      .map((d) => d.reason)
      .sort(),
    ['CERT_REVOKED', 'CERT_REVOKED'],
  );
  for (const [decision] of await Promise.all(cut)) t.equal(decision.trigger, 'revocation');
  for (const i of [2, 7]) {
    await closed(pairs[i]!.socket);
    t.equal(received[i]!.bytes, bytesAtCall[i], `not one byte of revoked client ${i} after setCrl() was called`);
    t.equal(codeOf(pairs[i]!.socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED');
  }
  for (const i of [0, 1, 3, 4, 5, 6, 8, 9]) {
    const before = received[i]!.bytes;
    await received[i]!.until(before + 50);
    t.equal(pairs[i]!.socket.destroyed, false, `client ${i} keeps streaming`);
  }
  t.ok(contextHandle(server.secureContext).cacheStats().verified >= 8, 'the clean verdicts were kept natively too');
});

t.test('a second CRL swap while the first batch is out is the one that counts', async (t) => {
  const { pki, server, identities, pairs, received } = await streamingClients(t);
  const serialOf = (i: number): string => identities[i]!.serial.toUpperCase();
  pki.ca.revoke(identities[1]!.serial);
  const first = await pki.ca.crls();
  // The second list takes client 1's revocation back and revokes client 4.
  pki.ca.unrevoke(identities[1]!.serial);
  pki.ca.revoke(identities[4]!.serial);
  const second = await pki.ca.crls();
  const bytesAtCall = received.map((r) => r.bytes);

  // The second list goes in while the first sweep's batch is out: right after the batch started.
  const handle = contextHandle(server.secureContext);
  const batch = handle.verifyChains.bind(handle);
  let secondSweep: Promise<Decision[]> | undefined;
  Object.defineProperty(handle, 'verifyChains', {
    configurable: true,
    value: (...args: Parameters<typeof batch>) => {
      const answers = batch(...args);
      secondSweep ??= server.setCrl(second);
      return answers;
    },
  });
  t.teardown(() => delete (handle as { verifyChains?: unknown }).verifyChains);
  const firstSweep = server.setCrl(first);
  const firstDecisions = await firstSweep;
  t.ok(secondSweep !== undefined, 'the second list went in while the first batch was out');
  const decisions = [...firstDecisions, ...(await secondSweep!)];

  const about = (i: number): Decision[] =>
    decisions.filter((d) => d.certificate?.serialNumber.toUpperCase() === serialOf(i));
  t.ok(about(4).length > 0, 'client 4 was re-decided');
  t.ok(
    about(4).every((d) => !d.allow && d.reason === 'CERT_REVOKED'),
    'no sweep allowed client 4 on a verdict made under the first list',
  );
  t.ok(
    about(1).every((d) => d.allow),
    'no sweep denied client 1 on a verdict made under the first list',
  );
  await closed(pairs[4]!.socket);
  t.equal(received[4]!.bytes, bytesAtCall[4], 'not one byte of client 4 after the swaps');
  const before = received[1]!.bytes;
  await received[1]!.until(before + 50);
  t.equal(pairs[1]!.socket.destroyed, false, 'client 1 keeps streaming');
});

t.test(
  'sweeps that keep the store (a policy change, a re-check of everyone) verify through the cache, not a batch',
  async (t) => {
    const { server, pairs } = await streamingClients(t);
    const counts = countVerifications(t, server.secureContext);
    const decisions = await server.authorizer.recheckAll('revocation');
    t.equal(decisions.length, 10);
    t.ok(
      decisions.every((d) => d.allow),
      'everyone still allowed',
    );
    await server.setPolicy(() => true);
    t.equal(counts.batches, 0, 'no batch: the verified-chain cache answers for an unchanged store');
    t.equal(pairs[0]!.socket.destroyed, false);
  },
);

t.test('a worker thread ended while its batch is out does not take the process down', async (t) => {
  // In its own process: the batch's answer, made during the worker's teardown where JavaScript
  // cannot run, or interrupted by the termination half way, once aborted the whole process.
  const dist = join(__dirname, '..', 'dist');
  const script = `
    const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
    if (isMainThread) {
      (async () => {
        const { DevelopmentCA } = require(${JSON.stringify(join(dist, 'dev', 'pki.js'))});
        const ca = await DevelopmentCA.create();
        const chains = [];
        for (let i = 0; i < 64; i++) chains.push((await ca.issueClient({ commonName: 'c' + i })).chain);
        // Each round terminates a little later, so some land while the batch is still on the pool
        // and some while its answer is being built on the worker's thread (where it once aborted
        // the process now and then: node-addon-api made the error it could not throw fatal).
        for (let round = 0; round < 16; round++) {
          const worker = new Worker(process.argv[1], { argv: [], workerData: { ca: ca.rootCert, chains } });
          await new Promise((resolve) => worker.once('message', resolve));
          await new Promise((resolve) => setTimeout(resolve, round * 2));
          await worker.terminate();
        }
        process.stdout.write('survived');
      })();
    } else {
      const { X509Certificate } = require('node:crypto');
      const { createSecureContext, contextHandle } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
      const context = createSecureContext({ ca: workerData.ca }, true);
      const items = workerData.chains.map((pem) => [
        pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g).map((b) => new X509Certificate(b).raw),
        'sslclient',
      ]);
      void contextHandle(context).verifyChains(items, 3);
      parentPort.postMessage('started');
    }`;
  const { code, signal, out, err } = await runInChild(t, script);
  t.same({ code, signal, out }, { code: 0, signal: null, out: 'survived' }, err.slice(0, 400));
});

t.test('an accessor app code put on Object.prototype neither runs nor takes a field of a batch answer', async (t) => {
  // The answer is built with defined properties: a setter named like one of its fields (here one
  // that would end the worker half way through the answer, as a terminate() landing there does)
  // never runs, and every outcome carries its own notAfter. In a child, so an abort fails the test.
  const dist = join(__dirname, '..', 'dist');
  const script = `
    const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');
    if (isMainThread) {
      (async () => {
        const { DevelopmentCA } = require(${JSON.stringify(join(dist, 'dev', 'pki.js'))});
        const ca = await DevelopmentCA.create();
        const chains = [];
        for (let i = 0; i < 8; i++) chains.push((await ca.issueClient({ commonName: 'c' + i })).chain);
        const worker = new Worker(process.argv[1], { argv: [], workerData: { ca: ca.rootCert, chains } });
        let said = 'nothing';
        worker.on('message', (message) => (said = message));
        const code = await new Promise((resolve) => worker.once('exit', resolve));
        process.stdout.write(said + ', worker exit ' + code);
      })();
    } else {
      const { X509Certificate } = require('node:crypto');
      const { createSecureContext, contextHandle } = require(${JSON.stringify(join(dist, 'tls', 'context.js'))});
      const context = createSecureContext({ ca: workerData.ca }, true);
      const items = workerData.chains.map((pem) => [
        pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g).map((b) => new X509Certificate(b).raw),
        'sslclient',
      ]);
      Object.defineProperty(Object.prototype, 'notAfter', {
        configurable: true,
        get() { return 0; },
        set() { process.exit(7); },
      });
      contextHandle(context).verifyChains(items, 3).then((outcomes) => {
        const ownNotAfter = (outcome) => Object.getOwnPropertyDescriptor(outcome, 'notAfter')?.value;
        const own = outcomes.length === 8 &&
          outcomes.every((outcome) => outcome !== null && outcome.ok === true && ownNotAfter(outcome) > Date.now());
        parentPort.postMessage(own ? 'answered in full' : 'answer taken');
      });
    }`;
  const { code, signal, out, err } = await runInChild(t, script);
  t.same({ code, signal, out }, { code: 0, signal: null, out: 'answered in full, worker exit 0' }, err.slice(0, 400));
});

/** Runs a CommonJS script in a child node, so an abort fails the test instead of ending the runner. */
async function runInChild(
  t: Test,
  script: string,
): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'ctls-batch-')), 'worker.js');
  writeFileSync(file, script);
  t.teardown(() => rmSync(dirname(file), { recursive: true, force: true }));
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk));
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    child.once('exit', (c, s) => resolve([c, s])),
  );
  return { code, signal, out, err };
}

t.test('the pool size is read from UV_THREADPOOL_SIZE as libuv reads it', async (t) => {
  const cases: Array<[string | undefined, number]> = [
    [undefined, 4],
    ['', 1],
    ['0', 1],
    ['8', 8],
    [' 6', 6],
    ['+3', 3],
    ['2x', 2],
    ['1.5', 1],
    ['abc', 1],
    ['-3', 1024],
    ['5000', 1024],
  ];
  for (const [value, size] of cases) t.equal(libuvPoolSize(value), size, `UV_THREADPOOL_SIZE=${JSON.stringify(value)}`);
});
