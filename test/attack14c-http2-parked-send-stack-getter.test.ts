// Attack: on a held attached HTTP/2 connection, respond() is parked and runs at the release. If it
// throws then, failParkedSend() hands the thrown value to stream.destroy() whenever isError() says
// it is an Error. isError() only guards `instanceof` against a revoked Proxy; it lets through any
// object whose prototype is Error.prototype (a subclass, Object.create(Error.prototype), a Proxy of
// an Error) whatever its own fields do. node's stream destroy() reads `error.stack` at once (its
// checkError), so a value whose `stack` getter throws makes destroy() throw again: out of
// failParkedSend, out of the write gate's release loop, in a process.nextTick callback: an uncaught
// exception that ends the server. Without the hold the same respond() would have thrown at the
// app's own call, inside its own try/catch.
// A correct library never lets a thrown value throw again in its own bookkeeping: the stream is
// failed (or reset with a warning) and the process lives on.
// Attack class: hostile thrown values reaching library bookkeeping (crash / DoS).
import t from 'tap';
import { openCall } from './helpers/attached-http2';
import { delay } from './helpers/mtls';

t.test('a parked respond() throwing an Error whose stack getter throws does not crash the process', async (t) => {
  const call = await openCall(t, () => true, { respond: false });
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onUncaught);
  t.teardown(() => {
    process.off('uncaughtException', onUncaught);
    for (const listener of saved) process.on('uncaughtException', listener);
  });
  const onWarning = (): void => {};
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));

  let settle!: (allow: boolean) => void;
  const decided = call.attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  // An Error by its prototype, whose stack cannot be read.
  const hostile = Object.create(Error.prototype, {
    stack: {
      get(): never {
        throw new Error('stack read');
      },
    },
  }) as Error;
  const headers = {
    get ':status'(): number {
      throw hostile;
    },
  };
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
