// Attack: an attachment links an HTTP/2 session to its connection only if node's 'session' event
// reaches the attachment's emit wrapper while some attachment is inside the connection's
// 'secureConnection' hand-over (the module-level `handingOver`). An app's own emit wrapper put on
// top of the server after attach() (instrumentation, an event queue) that passes 'session' on a
// tick later breaks that timing: the attachment sees the session with nothing being handed over
// and never links it, so none of the connection's streams is tracked. When the attachment then
// holds the connection (a decision pending on a policy, a lapse, a denial kept open), what the app
// writes to an open stream (respond(), write()) goes through the session to the held peer.
// A correct library finds a stream's connection whenever 'session' arrives (the session's socket
// leads to the TLS socket), and holds every open stream of a held connection.
// Attack class: other read/write paths around the gate / stacked interception (app emit wrapper).
import t from 'tap';
import type * as http2 from 'node:http2';
import { openCall, respondWhileHeld } from './helpers/attached-http2';

/** The app's own wrapper: 'session' (for its instrumentation) is passed on a tick later. */
function deferSession(server: http2.Http2SecureServer): void {
  const beneath = server.emit;
  server.emit = function (this: http2.Http2SecureServer, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'session') {
      process.nextTick(() => Reflect.apply(beneath, this, [event, ...args]));
      return true;
    }
    return Reflect.apply(beneath, this, [event, ...args]) as boolean;
  } as typeof server.emit;
}

t.test("a held connection's stream sends nothing when an app wrapper passes 'session' on later", async (t) => {
  const call = await openCall(t, undefined, { respond: false, setup: deferSession });
  // The attachment holds the connection on a decision that will deny.
  const seen = await respondWhileHeld(call);
  t.equal(seen.headers, undefined, 'no response headers reach the held peer');
  t.equal(seen.answered, '', 'no response body reaches the held peer');
});
