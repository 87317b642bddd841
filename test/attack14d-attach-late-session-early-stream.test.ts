// Attack: the last fix links an HTTP/2 session to its attached connection when node's 'session'
// event reaches the attachment (reading the connection through session.socket), and a stream is
// tracked only if its session is linked at the moment its 'stream' event passes. The link still
// depends on *when* 'session' arrives: an app's own emit wrapper on top of the server that passes
// 'session' on later than a tick (an async instrumentation queue, a setTimeout/setImmediate, an
// await on I/O) lets the peer's first streams through unlinked. They are never tracked, not even
// once 'session' finally arrives, so when the attachment later holds the connection (a decision
// pending, a lapse, a denial kept open) the app's respond()/write() on those streams reach the
// held peer: response headers and body the policy has not allowed.
// A correct library finds a stream's connection when the stream arrives (stream.session.socket
// leads to the TLS socket), independent of whether or when 'session' was seen, and holds every
// open stream of a held connection.
// Attack class: other read/write paths around the gate / stacked interception (app emit wrapper).
import t from 'tap';
import type * as http2 from 'node:http2';
import { openCall, respondWhileHeld } from './helpers/attached-http2';
import { delay } from './helpers/mtls';

/** The app's own wrapper: 'session' (for its instrumentation) is passed on 150 ms later, after the first stream. */
function deferSession(server: http2.Http2SecureServer): void {
  const beneath = server.emit;
  server.emit = function (this: http2.Http2SecureServer, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'session') {
      setTimeout(() => Reflect.apply(beneath, this, [event, ...args]), 150);
      return true;
    }
    return Reflect.apply(beneath, this, [event, ...args]) as boolean;
  } as typeof server.emit;
}

t.test("a held connection's early stream sends nothing when an app wrapper passes 'session' on after it", async (t) => {
  const call = await openCall(t, undefined, { respond: false, setup: deferSession });
  // By now the deferred 'session' has reached the attachment too: the session is linked.
  await delay(250);
  // The attachment holds the connection on a decision that will deny.
  const seen = await respondWhileHeld(call);
  t.equal(seen.headers, undefined, 'no response headers reach the held peer');
  t.equal(seen.answered, '', 'no response body reaches the held peer');
});
