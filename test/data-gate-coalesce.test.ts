// The data gate's memory tracks the plaintext it counts: a peer that sends many tiny records
// while the gate holds (a certificate request out, a decision pending) cannot make the held
// chunks' own cost (a Buffer and an ArrayBuffer each) the real one. Past a few dozen held
// chunks, small ones are copied together; they leave in order, whole, and in memory that holds
// this connection's bytes only and is of their size (the inputs here own their memory: node's
// pool slices would pin the pool whatever the gate does).
import t from 'tap';
import { DataGate, type GateOutlet } from '../dist/tls/data-gate.js';

function gateWith(): { gate: DataGate; pushed: Buffer[] } {
  const pushed: Buffer[] = [];
  const outlet: GateOutlet = {
    push: (chunk) => {
      pushed.push(chunk);
      return true;
    },
    write: (_chunks, callback) => callback(),
    fail: (error) => {
      throw error;
    },
  };
  return { gate: new DataGate(outlet, 16 * 1024 * 1024), pushed };
}

t.test('many tiny held chunks are coalesced, in order and whole', async (t) => {
  const { gate, pushed } = gateWith();
  gate.hold('h');
  const sent: Buffer[] = [];
  for (let i = 0; i < 20_000; i++) {
    const chunk = Buffer.alloc(1, i & 0xff);
    sent.push(chunk);
    gate.keep(chunk);
  }
  t.equal(gate.heldBytes, 20_000);
  gate.release('h');
  gate.flushHeld();
  t.ok(pushed.length < 200, `${pushed.length} chunks leave for 20000 one-byte ones`);
  t.same(Buffer.concat(pushed), Buffer.concat(sent), 'the bytes leave in order');
  const pinning = pushed.filter((chunk) => chunk.buffer.byteLength > 2 * chunk.length);
  t.equal(pinning.length, 0, 'no chunk pins more than twice its size');
  t.equal(gate.heldBytes, 0);
});

t.test('large chunks and a few small ones are held as they came', async (t) => {
  const { gate, pushed } = gateWith();
  gate.hold('h');
  const big = Buffer.alloc(4096, 1);
  gate.keep(Buffer.from('a'));
  gate.keep(big);
  gate.keep(Buffer.from('b'));
  gate.release('h');
  gate.flushHeld();
  t.same(
    pushed.map((chunk) => chunk.length),
    [1, 4096, 1],
  );
  t.equal(pushed[1], big, 'a large chunk is not copied');
});

t.test('a large chunk among coalesced ones keeps its place', async (t) => {
  const { gate, pushed } = gateWith();
  gate.hold('h');
  for (let i = 0; i < 100; i++) gate.keep(Buffer.alloc(1, 'x'));
  gate.keep(Buffer.alloc(1000, 'B'));
  for (let i = 0; i < 100; i++) gate.keep(Buffer.alloc(1, 'y'));
  gate.release('h');
  gate.flushHeld();
  t.equal(Buffer.concat(pushed).toString(), 'x'.repeat(100) + 'B'.repeat(1000) + 'y'.repeat(100));
  const whole = Buffer.concat(pushed.map((chunk) => Buffer.from(chunk.buffer, 0, chunk.buffer.byteLength)));
  t.notOk(whole.includes('z'), 'chunk memory shows only what was sent');
});
