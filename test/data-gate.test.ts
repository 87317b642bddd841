// The data gate during a fresh re-authentication with a slow (async) policy, with peers that keep
// writing: no application byte is delivered between the certificate request and the policy's answer;
// an allow releases inbound and outbound data in order; a deny discards it and destroys the socket;
// held data is bounded by the highWaterMark with the transport paused, and a peer that floods the
// connection before the request still gets its certificate through.
import t from 'tap';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type * as net from 'node:net';
import { reauthorize, type AuthorizationInput } from '../dist/index.js';
import { closed } from './helpers/owned';
import { codeOf, connectPair, delay, makePki, mtlsOptions, startServer } from './helpers/mtls';

const POLICY_MS = 300;

/** Records every chunk a readable delivers with its performance.now() time. */
function timeline(stream: NodeJS.ReadableStream): Array<{ at: number; chunk: Buffer }> {
  const seen: Array<{ at: number; chunk: Buffer }> = [];
  stream.on('data', (chunk: Buffer) => seen.push({ at: performance.now(), chunk }));
  return seen;
}

const text = (seen: Array<{ chunk: Buffer }>): string => Buffer.concat(seen.map((entry) => entry.chunk)).toString();

/** A policy that answers `allow()` after POLICY_MS for manual re-checks, at once otherwise. */
function slowPolicy(allow: () => boolean): {
  policy: (input: AuthorizationInput) => Promise<boolean> | boolean;
  started: number[];
  answered: number[];
} {
  const started: number[] = [];
  const answered: number[] = [];
  const policy = (input: AuthorizationInput): Promise<boolean> | boolean => {
    if (input.trigger !== 'manual') return true;
    started.push(performance.now());
    return delay(POLICY_MS).then(() => {
      answered.push(performance.now());
      return allow();
    });
  };
  return { policy, started, answered };
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: a writing peer's bytes wait for the answer, then arrive in order`, async (t) => {
    const pki = await makePki();
    const slow = slowPolicy(() => true);
    const { server, port } = await startServer(
      t,
      mtlsOptions(pki, { maxVersion: version, policy: slow.policy, policyTimeout: 5_000 }),
    );
    const { client, socket } = await connectPair(t, server, port, pki);
    const delivered = timeline(socket);

    // The client writes a numbered line every 5 ms, before, during and after the re-authentication.
    const lines: string[] = [];
    const sentAt: number[] = [];
    const writer = setInterval(() => {
      const line = `line ${lines.length}\n`;
      lines.push(line);
      sentAt.push(performance.now());
      client.write(line);
    }, 5);
    t.teardown(() => clearInterval(writer));
    await delay(100);

    const requestedAt = performance.now();
    const decision = await reauthorize(socket, { fresh: true });
    t.equal(decision.allow, true);
    const answeredAt = slow.answered[0]!;
    t.ok(answeredAt - requestedAt >= POLICY_MS - 5, 'the policy took its time');
    await delay(100);
    clearInterval(writer);
    client.write('END\n');
    lines.push('END\n');

    const expected = lines.join('');
    const deadline = Date.now() + 10_000;
    while (text(delivered).length < expected.length && Date.now() < deadline) await delay(10);

    const during = delivered.filter((entry) => entry.at >= requestedAt && entry.at < answeredAt);
    t.equal(during.length, 0, 'no byte delivered between the certificate request and the answer');
    t.ok(sentAt.filter((at) => at >= requestedAt && at < answeredAt).length >= 20, 'the peer kept writing meanwhile');
    t.ok(
      delivered.some((entry) => entry.at < requestedAt),
      'bytes flowed before',
    );
    t.ok(
      delivered.some((entry) => entry.at >= answeredAt),
      'and after',
    );
    t.equal(text(delivered), expected, 'every byte delivered, in order, none lost');
  });
}

t.test("the server's writes during the pending decision are held, then sent after the allow", async (t) => {
  const pki = await makePki();
  const slow = slowPolicy(() => true);
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy: slow.policy, policyTimeout: 5_000 }));
  const { client, socket } = await connectPair(t, server, port, pki);
  const atClient = timeline(client);
  socket.write('before|');
  await delay(50);

  const pending = reauthorize(socket, { fresh: true });
  socket.write('during-1|');
  await delay(100);
  socket.write('during-2|');
  const decision = await pending;
  t.equal(decision.allow, true);
  socket.write('after');
  const answeredAt = slow.answered[0]!;
  const deadline = Date.now() + 10_000;
  while (!text(atClient).endsWith('after') && Date.now() < deadline) await delay(10);

  t.equal(text(atClient), 'before|during-1|during-2|after', 'all of it, in write order');
  const firstHeld = atClient.find((entry) => entry.chunk.toString().includes('during-1'))!;
  t.ok(firstHeld.at >= answeredAt, 'the held writes left only after the answer');
});

t.test('on deny the held data never reaches either app and the socket is destroyed', async (t) => {
  const pki = await makePki();
  const slow = slowPolicy(() => false);
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy: slow.policy, policyTimeout: 5_000 }));
  const { client, socket } = await connectPair(t, server, port, pki);
  const atServer = timeline(socket);
  const atClient = timeline(client);
  client.write('before');
  while (text(atServer) !== 'before') await delay(5);

  const pending = reauthorize(socket, { fresh: true });
  const writer = setInterval(() => !client.destroyed && client.write('secret-inbound'), 5);
  t.teardown(() => clearInterval(writer));
  socket.write('secret-outbound');
  const decision = await pending;
  clearInterval(writer);
  t.equal(decision.allow, false);
  await closed(socket);
  await closed(client);
  t.equal(text(atServer), 'before', 'nothing written during the pending decision reached the server app');
  t.equal(text(atClient), '', 'nothing the server wrote meanwhile reached the client');
  t.equal(codeOf(socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED');
});

t.test('held data is bounded by highWaterMark: the transport pauses, the peer feels backpressure', async (t) => {
  const pki = await makePki();
  const highWaterMark = 16 * 1024;
  let policyStarted!: () => void;
  const started = new Promise<void>((resolve) => (policyStarted = resolve));
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, {
      highWaterMark,
      policyTimeout: 10_000,
      policy: async (input) => {
        if (input.trigger !== 'manual') return true;
        policyStarted();
        await finished;
        return true;
      },
    }),
  );
  const { client, socket } = await connectPair(t, server, port, pki);
  const hash = createHash('sha256');
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
  });

  const pending = reauthorize(socket, { fresh: true });
  await started; // the new certificate is in; only the policy is pending
  const transport = socket.transport as net.Socket;
  const readAtStart = transport.bytesRead;
  const payload = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 11)) & 0xff;
  const accepted = client.write(payload);
  await delay(500);

  t.equal(received, 0, 'nothing delivered while the policy is pending');
  t.equal(transport.isPaused(), true, 'the transport is paused');
  const readWhileHeld = transport.bytesRead - readAtStart;
  t.ok(readWhileHeld < 1024 * 1024, `only ${readWhileHeld} of ${payload.length} bytes read while held`);
  t.equal(accepted, false, "the client's write reports backpressure");

  finish();
  t.equal((await pending).allow, true);
  const deadline = Date.now() + 20_000;
  while (received < payload.length && Date.now() < deadline) await delay(10);
  t.equal(received, payload.length, 'everything arrives after the allow');
  t.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'), 'byte for byte, in order');
});

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: a peer that floods before the request still answers it`, async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(t, mtlsOptions(pki, { maxVersion: version, highWaterMark: 16 * 1024 }));
    const { client, socket } = await connectPair(t, server, port, pki);
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    // Megabytes already in flight: the certificate (1.3) or ClientHello (1.2) queues behind them.
    const payload = Buffer.alloc(8 * 1024 * 1024, 7);
    client.write(payload);
    const rotated = await pki.ca.issueClient({ commonName: 'alice', validityMs: 120_000 });
    client.setIdentity({ key: rotated.key, cert: rotated.chain });
    const decision = await reauthorize(socket, { fresh: true, timeout: 5_000 });
    t.equal(decision.allow, true, `not ${decision.reason}`);
    t.equal(decision.certificate?.serialNumber, rotated.serial);
    const deadline = Date.now() + 20_000;
    while (received < payload.length && Date.now() < deadline) await delay(10);
    t.equal(received, payload.length, 'and every byte sent before it arrives');
  });
}
