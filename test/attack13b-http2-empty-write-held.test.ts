// Attack: the attached tier's WriteGate lets an empty write through while the connection is held
// (an empty write carries nothing, and node's renegotiate() writes one). On an HTTP/2 stream an
// empty write is not nothing: node's stream answers any write on a stream that has not responded
// by responding first (its implicit `:status 200`), and that write goes straight to the session.
// So `stream.write('')` (a common "flush the headers now" idiom) on a held connection sends the
// stream's response headers to a peer whose decision is pending, lapsed or denied-kept-open; a
// later respond() then throws ERR_HTTP2_HEADERS_SENT, and on a denial the peer has seen a 200.
// A correct library parks a stream write that would put anything on the wire, an empty one too,
// so nothing of a response reaches a held peer.
// Attack class: other paths around the gate (6).
import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http2';
import { openCall } from './helpers/attached-http2';
import { delay } from './helpers/mtls';

t.test('an empty write on a held stream sends no response headers', async (t) => {
  const call = await openCall(t, () => true, { respond: false });
  let headers: IncomingHttpHeaders | undefined;
  call.upload.once('response', (h) => (headers = h));
  let settle!: (allow: boolean) => void;
  const decided = call.attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  call.serverStream().write('');
  await delay(200);
  t.equal(headers, undefined, 'no response headers reach the held peer');
  settle(false);
  await decided;
  await delay(100);
  t.equal(headers, undefined, 'nor does the denied peer ever see a response');
});
