// Attack: an HTTP/2 push stream is created by the server's app (stream.pushStream()), not by the
// peer, so node never emits it as a server 'stream' event and the attached tier never tracks it.
// Once its connection is held (a decision pending, lapsed, or a denial kept open), the push
// stream's respond() and write() go straight through the session natively: response headers and
// body reach a peer whose authorization is pending or denied.
// A correct library holds every stream of a held connection, the app's push streams included:
// nothing of a response reaches the held peer before an allow, and nothing at all on a denial.
// Attack class: other read/write paths around the gate (6).
import t from 'tap';
import type * as http2 from 'node:http2';
import { openCall } from './helpers/attached-http2';
import { delay } from './helpers/mtls';

t.test('a push stream opened before the hold sends nothing while its connection is held', async (t) => {
  const call = await openCall(t, () => true, { respond: false });
  let pushedHeaders: http2.IncomingHttpHeaders | undefined;
  let pushedBody = '';
  call.session.on('stream', (pushed: http2.ClientHttp2Stream) => {
    pushed.on('error', () => {});
    pushed.on('push', (headers) => (pushedHeaders = headers));
    pushed.on('data', (chunk: Buffer) => (pushedBody += chunk.toString()));
  });
  // Allowed: the app pushes a resource (the PUSH_PROMISE itself may go out now).
  const push = await new Promise<http2.ServerHttp2Stream>((resolve, reject) =>
    call
      .serverStream()
      .pushStream({ ':path': '/secret' }, (error, stream) => (error ? reject(error) : resolve(stream))),
  );
  push.on('error', () => {});
  await delay(50);

  // The connection is now held on a decision that will deny.
  let settle!: (allow: boolean) => void;
  const decided = call.attachment.setPolicy(() => new Promise<boolean>((resolve) => (settle = resolve)));
  await delay(50);
  push.respond({ ':status': 200, 'x-account': 'secret' });
  push.end('pushed-secret;');
  await delay(200);
  t.equal(pushedHeaders, undefined, 'no pushed response headers reach the held peer');
  t.equal(pushedBody, '', 'no pushed body reaches the held peer');
  settle(false);
  await decided;
  await delay(100);
  t.equal(pushedBody, '', 'nor after the denial');
});
