// Attack: on a held attached HTTP/2 connection, respond() is parked and runs at the release. If it
// throws then (its headers cannot be read), failParkedSend() hands the failure to the stream's
// 'error' listener with `error instanceof Error ? error : new Error(...)`, read outside any guard.
// A thrown value that is a revoked Proxy (or any object whose prototype cannot be read) makes
// `instanceof` throw again, out of failParkedSend, out of the write gate's release loop, in a
// process.nextTick callback: an uncaught exception that ends the server, and the writes parked
// behind it are dropped. Without the hold the same call would have thrown at the app's own
// try/catch. warnOfFailure() reads such values safely; this path does not.
// A correct library never lets a thrown value throw again in its own bookkeeping: the stream is
// failed (or reset with a warning), the process lives on.
// Attack class: hostile thrown values reaching library bookkeeping (crash / DoS).
import t from 'tap';
import { openCall } from './helpers/attached-http2';
import { delay } from './helpers/mtls';

t.test('a parked respond() throwing a revoked Proxy does not crash the process', async (t) => {
  const call = await openCall(t, () => true, { respond: false });
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };
  // Record, rather than die of, what escapes onto the event loop.
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onUncaught);
  t.teardown(() => {
    process.off('uncaughtException', onUncaught);
    for (const listener of saved) process.on('uncaughtException', listener);
  });
  const warnings: unknown[] = [];
  const onWarning = (warning: unknown): number => warnings.push(warning);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));

  let settle!: (allow: boolean) => void;
  const decided = call.attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const headers = {
    get ':status'(): number {
      throw revoked.proxy;
    },
  };
  // Held: parked, answers undefined as the real call does.
  t.doesNotThrow(() => call.serverStream().respond(headers as unknown as Record<string, number>));
  settle(true);
  await decided;
  await delay(100);
  t.same(
    uncaught.map((error) => (error instanceof Error ? error.message : typeof error)),
    [],
    'nothing escapes as an uncaught exception',
  );
  t.equal(call.serverStream().destroyed, true, 'the stream whose response failed is failed');
});
