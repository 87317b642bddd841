// maxHeldBytesTotal bounds what all of a server's connections hold at once while their
// authorization is pending. Unit: a model of several gates sharing one budget (fast-check) — the
// budget always equals the sum of what the gates hold and never exceeds the limit, nothing is cut
// while both limits hold, a cut for the total takes the gate that began holding first, and every byte comes back
// when the data leaves or the connection goes. Wire: peers that keep sending behind an unanswered
// certificate request are cut at the total long before their own maxHeldBytes, the budget comes
// back with them, and an honest peer after them still gets its answer through.
import t from 'tap';
import fc from 'fast-check';
import type * as net from 'node:net';
import { DataGate } from '../dist/tls/data-gate.js';
import { HeldBudget } from '../dist/tls/held-budget.js';
import { makePki, mtlsOptions, startServer, connectPair, codeOf, floodWithoutReading } from './helpers/mtls';
import { closed } from './helpers/owned';

const MiB = 1024 * 1024;

interface ModelGate {
  gate: DataGate;
  failed: boolean;
  reader: boolean;
}

type Step =
  | { kind: 'keep'; gate: number; bytes: number }
  | { kind: 'open'; gate: number; reader: boolean }
  | { kind: 'close'; gate: number }
  | { kind: 'discard'; gate: number };

const GATES = 3;
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('keep' as const), gate: fc.nat(GATES - 1), bytes: fc.integer({ min: 1, max: 700 }) }),
  fc.record({ kind: fc.constant('open' as const), gate: fc.nat(GATES - 1), reader: fc.boolean() }),
  fc.record({ kind: fc.constant('close' as const), gate: fc.nat(GATES - 1) }),
  fc.record({ kind: fc.constant('discard' as const), gate: fc.nat(GATES - 1) }),
);

t.test('model: the budget is the sum of what the gates hold; past it the longest holders are cut', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2000 }), fc.array(step, { maxLength: 80 }), (limit, steps) => {
      const budget = new HeldBudget(limit);
      const gates: ModelGate[] = [];
      // Each failure with what the gates held just before it (the failing gate's new chunk included).
      const cuts: Array<{ gate: number; message: string; order: number[] }> = [];
      // The gates holding, in the order they began to (as the model sees it).
      let order: number[] = [];
      for (let i = 0; i < GATES; i++) {
        const model: ModelGate = { gate: undefined as unknown as DataGate, failed: false, reader: true };
        model.gate = new DataGate(
          {
            push: () => model.reader,
            write: (_chunks, callback) => callback(),
            fail: (error) => {
              model.failed = true;
              cuts.push({ gate: i, message: error.message, order: [...order] });
              order = order.filter((gate) => gate !== i);
            },
          },
          1000,
          budget,
        );
        model.gate.hold('pending');
        gates.push(model);
      }
      for (const next of steps) {
        const model = gates[next.gate]!;
        if (model.failed) continue;
        if (next.kind === 'keep') {
          const ownAfter = model.gate.heldBytes + next.bytes;
          const totalAfter = budget.used + next.bytes;
          if (!order.includes(next.gate)) order.push(next.gate);
          const cutsBefore = cuts.length;
          const kept = model.gate.keep(Buffer.alloc(next.bytes));
          if (kept === model.failed) return false;
          const newCuts = cuts.slice(cutsBefore);
          // Within both limits nothing is cut.
          if (totalAfter <= limit && ownAfter <= 1000 && newCuts.length > 0) return false;
          // A cut for the total takes the gate that began holding first of those still holding.
          for (const cut of newCuts)
            if (/maxHeldBytesTotal/.test(cut.message) && cut.order[0] !== cut.gate) return false;
        } else if (next.kind === 'open') {
          model.reader = next.reader;
          model.gate.release('pending');
          model.gate.flushHeld();
          if (model.gate.heldBytes === 0) order = order.filter((gate) => gate !== next.gate);
        } else if (next.kind === 'close') {
          model.gate.hold('pending');
        } else {
          model.failed = true;
          model.gate.discard();
          order = order.filter((gate) => gate !== next.gate);
        }
        const sum = gates.reduce((total, each) => total + each.gate.heldBytes, 0);
        if (budget.used !== sum || budget.used > limit) return false;
        for (const each of gates) if (each.failed && each.gate.heldBytes !== 0) return false;
      }
      for (const model of gates) model.gate.discard();
      return budget.used === 0;
    }),
    { numRuns: 500 },
  );
  t.pass('500 runs of keep/open/close/discard across three gates');
});

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: peers flooding behind unanswered requests are cut at maxHeldBytesTotal`, async (t) => {
    const pki = await makePki();
    const { server, port } = await startServer(
      t,
      mtlsOptions(pki, { maxVersion: version, maxHeldBytesTotal: 6 * MiB }),
    );
    const flooders = [await connectPair(t, server, port, pki), await connectPair(t, server, port, pki)];
    const bystander = await connectPair(t, server, port, pki);
    const started = Date.now();
    const requests = flooders.map((pair) =>
      t.rejects(pair.socket.requestCertificate({ timeout: 60_000 }), { code: 'ERR_CTLS_HELD_LIMIT' }),
    );
    for (const pair of flooders) void floodWithoutReading(pair);
    await Promise.all(flooders.map((pair) => closed(pair.socket, 30_000)));
    await Promise.all(requests);
    let read = 0;
    for (const pair of flooders) {
      t.equal(codeOf(pair.socket.destroyReason), 'ERR_CTLS_HELD_LIMIT');
      t.match(pair.socket.destroyReason?.message, /maxHeldBytesTotal/, 'cut by the server-wide total');
      read += (pair.socket.transport as net.Socket).bytesRead;
    }
    t.ok(read < 6 * MiB + 6 * MiB + 2 * MiB, `read ${(read / MiB).toFixed(2)} MiB in all, far below 2 × 16 MiB`);
    t.ok(Date.now() - started < 30_000, 'cut by the limit, not by the re-authentication timeout');
    t.equal(bystander.socket.destroyed, false, 'a connection holding nothing is not touched');

    // The cut connections gave their bytes back: an honest answer behind 4 MiB of data gets through.
    let received = 0;
    bystander.socket.on('data', (chunk: Buffer) => (received += chunk.length));
    bystander.client.write(Buffer.alloc(4 * MiB, 9));
    const result = await bystander.socket.requestCertificate({ timeout: 10_000 });
    t.equal(result.verified, true);
    const deadline = Date.now() + 10_000;
    while (received < 4 * MiB && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    t.equal(received, 4 * MiB, 'every byte sent before the answer is delivered');
  });
}

t.test('maxHeldBytesTotal is validated', async (t) => {
  const pki = await makePki();
  const { createServer } = await import('../dist/index.js');
  for (const bad of [0, -1, 1.5, '1', null, NaN]) {
    t.throws(() => createServer(mtlsOptions(pki, { maxHeldBytesTotal: bad as number })), {
      code: 'ERR_CTLS_INVALID_OPTION',
      message: /maxHeldBytesTotal/,
    });
  }
  t.doesNotThrow(() => createServer(mtlsOptions(pki, { maxHeldBytesTotal: Infinity })));
});
