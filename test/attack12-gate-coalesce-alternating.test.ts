// Attack (pending states are budgets / a bound that counts the wrong thing): maxHeldBytes and the
// new server-wide maxHeldBytesTotal count held plaintext, and the data gate keeps held memory "of
// the order of the plaintext counted" by copying small chunks (< 512 bytes, once 64 wait) into
// 8 KiB coalescing buffers. But any chunk of 512 bytes or more ends the current coalescing buffer
// (`#tail = null`), so the next small chunk opens a fresh, zeroed 8 KiB buffer for itself. A peer
// whose records arrive as alternating reads of 1 byte and 512 bytes (two small TLS records per
// round, while a certificate request is out and the server must keep reading) makes each counted
// 513 bytes cost about 8.5 KiB: ~17 times the bound. One connection at the default maxHeldBytes
// (16 MiB) then holds ~270 MiB, and the server-wide 256 MiB total ~4.3 GiB, before either limit
// trips: the budget this round added is bypassed by the same factor. On the wire (an owned server
// with a certificate request out, a client writing 1 byte and 512 bytes alternately, each in its
// own turn of the loop) 3.5 MiB of plaintext, under a 4 MiB maxHeldBytes, grew the process's
// ArrayBuffer memory by ~59 MiB. This test drives the gate alone, so that it is exact.
//
// A correct library keeps what a held chunk pins within a small constant of the bytes it counts,
// whatever the order of chunk sizes (e.g. keep appending small chunks to a partly filled buffer,
// or count what the gate really retains against the limits).
import t from 'tap';
import { DataGate } from '../dist/tls/data-gate.js';
import { HeldBudget } from '../dist/tls/held-budget.js';

const MiB = 1024 * 1024;

t.test('alternating 1-byte and 512-byte chunks do not make held memory outgrow the bytes counted', async (t) => {
  const pushed: Buffer[] = [];
  let failed: Error | null = null;
  const budget = new HeldBudget(1 * MiB);
  const gate = new DataGate(
    {
      push: (chunk) => {
        pushed.push(chunk);
        return true;
      },
      write: (_chunks, callback) => callback(),
      fail: (error) => {
        failed = error;
        gate.discard();
      },
    },
    1 * MiB,
    budget,
  );
  gate.hold('certificate-request');
  // Each chunk in memory of its own size, as the addon hands small reads over.
  while (gate.heldBytes + 513 <= 1 * MiB) {
    gate.keep(Buffer.allocUnsafeSlow(1).fill(0x61));
    gate.keep(Buffer.allocUnsafeSlow(512).fill(0x62));
  }
  t.equal(failed, null, 'within maxHeldBytes and maxHeldBytesTotal: nothing was cut');
  const counted = gate.heldBytes;
  t.equal(budget.used, counted, 'the budget counts what the gate counts');

  gate.release('certificate-request');
  gate.flushHeld();
  const memory = new Set(pushed.map((chunk) => chunk.buffer));
  const retained = [...memory].reduce((total, buffer) => total + buffer.byteLength, 0);
  t.ok(
    retained <= 2 * counted,
    `held ${(retained / MiB).toFixed(1)} MiB of memory for ${(counted / MiB).toFixed(1)} MiB counted`,
  );
});
