// Attack: two attachments on one HTTP/2 server (a tenant's and a fleet-wide one). The one attached
// second (on top) maps a connection's HTTP/2 session to its own view of the connection only while
// its own hand-over of 'secureConnection' is running (`emitting`). When the attachment beneath
// it decides asynchronously (it has a policy), node creates the session later, in that lower
// attachment's hand-over: the top attachment never learns the session, so it never tracks the
// connection's streams. When the top attachment then holds the connection (a decision pending,
// lapsed, or a denial kept open), what the app writes to an open stream (respond(), write())
// goes straight through the session to the held peer.
// A correct library holds every open stream of a held connection, whichever attachment holds it:
// nothing of a response reaches the peer before that attachment's decision allows.
// Attack class: other read/write paths around the gate / stacked interception.
import t from 'tap';
import { attach } from '../dist/index.js';
import { openCall, respondWhileHeld } from './helpers/attached-http2';

t.test('a stream of a connection held by the top attachment sends nothing', async (t) => {
  const call = await openCall(t, undefined, {
    respond: false,
    // Beneath: decides through an (asynchronous) policy. On top: no policy yet.
    attach: (server, options, t) => {
      const lower = attach(server, { ...options, policy: async () => true });
      t.teardown(() => lower.detach());
      return attach(server, options);
    },
  });
  // The top attachment holds the connection on a decision that will deny.
  const seen = await respondWhileHeld(call);
  t.equal(seen.headers, undefined, 'no response headers reach the held peer');
  t.equal(seen.answered, '', 'no response body reaches the held peer');
});
