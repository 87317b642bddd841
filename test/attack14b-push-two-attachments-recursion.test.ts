// Attack: two attachments on one HTTP/2 server (say a tenant CA set and a fleet-wide one, both
// attach()ed to the same server). Each attachment tracks every stream it hands on and installs
// its shared push-tracking pushStream() on it, recording "node's own" method in one per-stream
// record under a symbol. The second attachment to track the stream reads the first one's tracking
// method as the "original" and overwrites the single record: the tracking method then calls
// itself for ever. Every stream.pushStream() (and res.createPushResponse()) on such a server
// throws RangeError (maximum call stack) instead of pushing; a handler that pushes crashes.
// A correct library composes with a second attachment: pushStream() pushes as node's does, and
// each attachment tracks the push.
// Attack class: interception stacking (two wrappers of one method on one object) / crash.
import t from 'tap';
import * as http2 from 'node:http2';
import { attach } from '../dist/index.js';
import { listen } from './helpers/owned';
import { makePki } from './helpers/mtls';

t.test('pushStream() works on a server with two attachments', async (t) => {
  const pki = await makePki();
  const server = http2.createSecureServer({
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on('sessionError', () => {});
  const outcome = new Promise<string>((resolve) => {
    server.on('stream', (stream) => {
      stream.on('error', () => {});
      try {
        stream.pushStream({ ':path': '/pushed' }, (error, push) => {
          if (error) return resolve(`push failed: ${error.message}`);
          push.on('error', () => {});
          push.respond({ ':status': 200 });
          push.end('pushed;');
          stream.respond({ ':status': 200 });
          stream.end('main;');
          resolve('pushed');
        });
      } catch (error) {
        resolve(`pushStream threw: ${(error as Error).name}: ${(error as Error).message}`);
        stream.close();
      }
    });
  });
  const options = { ca: pki.ca.rootCert, intermediates: pki.ca.issuerChain, reauthorize: { every: 0 } };
  const first = attach(server, options);
  const second = attach(server, options);
  t.teardown(() => {
    second.detach();
    first.detach();
  });
  const port = await listen(t, server);
  const session = http2.connect(`https://localhost:${port}`, {
    host: '127.0.0.1',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  session.on('stream', (pushed: http2.ClientHttp2Stream) => pushed.on('error', () => {}));
  const request = session.request({ ':path': '/' });
  request.on('error', () => {});
  request.end();
  t.equal(await outcome, 'pushed', 'the push goes out as node would send it');
});
