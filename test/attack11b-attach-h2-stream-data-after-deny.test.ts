// Attack: node's HTTP/2 server reads the TLS handle natively and its session restarts reading from
// C++ on its own (whenever one of its writes completes, its own WINDOW_UPDATE or SETTINGS frames
// included), so the attached tier's read hold (readStop) does not stop it. The tier gates the
// server-level 'stream' event (a new request), but a stream the app already holds (a gRPC-style
// bidirectional call, a streamed upload) keeps receiving the peer's DATA frames:
//  1. while a re-decision that must hold data is pending (a policy change here; a trust change, a
//     CRL update or a fleet revocation alike): the app consumes bytes of a peer about to be denied;
//  2. after the connection was denied and kept open (`destroyOnDeny: false`), the state in which
//     "nothing reaches the application by any path" is promised (docs/api.md, attach()).
// The documented limitation covers only listeners on the session itself (`session.on('stream')`).
// A correct library delivers no byte of a held or denied connection to the application, whether it
// comes on a new stream or an open one, or closes what it cannot hold (fail closed).
// Attack class: other read paths (consumers that read the handle natively; pausing is not holding).
import t from 'tap';
import { reauthorize } from '../dist/index.js';
import { openCall } from './helpers/attached-http2';
import { delay } from './helpers/mtls';

t.test('http2: an open stream delivers the peer data while a holding re-decision is pending', async (t) => {
  const call = await openCall(t, () => true);
  t.equal(call.received(), 'before;', 'the allowed peer is served');

  // A policy change: the re-decision holds the connection's data until it concludes.
  let settle!: (allow: boolean) => void;
  const decided = call.attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  call.upload.write('during-pending');
  await delay(300);
  t.equal(call.received(), 'before;', 'nothing reaches the application while the decision is pending');
  settle(false);
  t.match(await decided, [{ allow: false }]);
});

t.test('http2: an open stream still delivers the peer data after a kept-open denial', async (t) => {
  let allow = true;
  const call = await openCall(t, () => allow);
  t.equal(call.received(), 'before;', 'the allowed peer is served');

  allow = false;
  const decision = await reauthorize(call.socket, { destroyOnDeny: false });
  t.equal(decision.allow, false, 'the peer is denied, the connection kept open');

  // The app answers once on the stream it holds (a response chunk, a heartbeat), then the peer
  // sends. (Without this write it fails the same: the session's own frames restart reading.)
  call.serverStream().write('ack');
  await delay(50);
  call.upload.write('after-deny');
  await delay(300);
  t.equal(call.received(), 'before;', 'nothing the denied peer sends reaches the application');
});
