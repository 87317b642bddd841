// The data gate on its own: named holds and the decision deadline close it, held plaintext
// leaves in order only while it is open and the reader takes it, maxHeldBytes ends the
// connection with ERR_CTLS_HELD_LIMIT, and a parked write goes out (or fails) through the outlet.
import t from 'tap';
import { DataGate, type GateOutlet } from '../dist/tls/data-gate.js';

interface Recorded {
  pushed: Buffer[];
  written: Buffer[][];
  failures: Array<Error & { code?: string }>;
  accept: boolean;
}

function gateWith(maxHeldBytes = 1024): { gate: DataGate; seen: Recorded } {
  const seen: Recorded = { pushed: [], written: [], failures: [], accept: true };
  const outlet: GateOutlet = {
    push: (chunk) => {
      seen.pushed.push(chunk);
      return seen.accept;
    },
    write: (chunks, callback) => {
      seen.written.push(chunks);
      callback();
    },
    fail: (error) => seen.failures.push(error),
  };
  return { gate: new DataGate(outlet, maxHeldBytes), seen };
}

t.test('holds are named: the gate opens when the last one is released', async (t) => {
  const { gate } = gateWith();
  t.notOk(gate.closed(), 'open with no hold');
  gate.hold('handshake');
  gate.hold('decision');
  t.ok(gate.closed());
  t.notOk(gate.release('decision'), 'another hold remains');
  t.notOk(gate.release('unknown'), 'releasing a hold nobody set opens nothing');
  t.ok(gate.closed());
  t.ok(gate.release('handshake'), 'the last release opens it');
  t.notOk(gate.closed());
});

t.test('the deadline closes the gate the moment it comes, until a new one is set', async (t) => {
  const { gate } = gateWith();
  let now = 1000;
  gate.setDeadline(1500, () => now);
  t.notOk(gate.closed());
  now = 1500;
  t.ok(gate.closed(), 'closed at the deadline, no timer needed');
  gate.setDeadline(Infinity, () => now);
  t.notOk(gate.closed());
  gate.hold('x');
  now = 2000;
  gate.setDeadline(1800, () => now);
  t.notOk(gate.release('x'), 'a lapsed deadline keeps it closed after the last release');
});

t.test('held plaintext leaves in order, only while open, and stops when the reader is full', async (t) => {
  const { gate, seen } = gateWith();
  gate.hold('h');
  t.ok(gate.mustHold());
  for (const text of ['a', 'bb', 'ccc']) t.ok(gate.keep(Buffer.from(text)));
  t.equal(gate.heldBytes, 6);
  gate.flushHeld();
  t.same(seen.pushed, [], 'nothing leaves a closed gate');
  gate.release('h');
  t.ok(gate.mustHold(), 'newer plaintext queues behind the held data even with the gate open');
  seen.accept = false;
  gate.flushHeld();
  t.same(seen.pushed.map(String), ['a'], 'stops once the reader says it is full');
  t.equal(gate.heldBytes, 5);
  seen.accept = true;
  gate.flushHeld();
  t.same(seen.pushed.map(String), ['a', 'bb', 'ccc']);
  t.notOk(gate.holding);
  t.equal(gate.heldBytes, 0);
  t.notOk(gate.mustHold());
});

t.test('past maxHeldBytes the connection fails with ERR_CTLS_HELD_LIMIT', async (t) => {
  const { gate, seen } = gateWith(4);
  gate.hold('h');
  t.ok(gate.keep(Buffer.alloc(4)), 'up to the ceiling is held');
  t.notOk(gate.keep(Buffer.alloc(1)), 'one byte more is not');
  t.equal(seen.failures.length, 1);
  t.equal(seen.failures[0]!.code, 'ERR_CTLS_HELD_LIMIT');
});

t.test('a parked write goes out through the outlet, or fails when the connection is gone', async (t) => {
  const { gate, seen } = gateWith();
  const outcomes: Array<Error | null | undefined> = [];
  gate.park([Buffer.from('x')], (error) => outcomes.push(error));
  t.ok(gate.hasParked);
  gate.flushParked();
  t.notOk(gate.hasParked);
  t.same(
    seen.written.map((chunks) => chunks.map(String)),
    [['x']],
  );
  t.same(outcomes, [undefined]);
  gate.flushParked();
  t.equal(seen.written.length, 1, 'flushing nothing writes nothing');

  gate.hold('h');
  gate.keep(Buffer.from('never authorized'));
  gate.park([Buffer.from('y')], (error) => outcomes.push(error));
  gate.discard();
  t.equal(gate.heldBytes, 0, 'held data is dropped');
  t.notOk(gate.holding);
  t.notOk(gate.hasParked);
  t.equal((outcomes[1] as Error & { code?: string }).code, 'ERR_CTLS_SOCKET_CLOSED');
  t.equal(seen.written.length, 1, 'the parked write never went out');
});
