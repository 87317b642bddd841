// Attack (exhaustion, side effects): on a TLS 1.2 connection that resumed, behind an app's
// SNICallback, lib/http/node-server-trust.ts asks the callback once per connection *and Host*, and
// keeps every answer in the connection's map for as long as the connection lives. One keep-alive
// connection sending requests with ever new Hosts makes the app's SNICallback run once per request
// with names the client picks, without any handshake (node runs it once per full handshake, which
// costs the client a handshake each), and the map grows by one entry per request. SNICallbacks
// commonly have side effects per name (ACME/on-demand certificate issuance, a database or secret
// store lookup, a context built per call): a cheap request loop drives them. Here 300 requests on
// one connection call the callback 300 times.
//
// The fix: bound the names one resumed connection may be judged under (e.g. the first Host only:
// a later request naming another Host is denied, or judged by what the first name's answer gave
// when it selects the same context), or a small per-connection LRU; never call the SNICallback
// more than a handful of times per connection.
import t from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';
import { serveHttps, tlsClient } from './helpers/https-resumption';

const REQUESTS = 300;

t.test('one resumed connection cannot make the SNICallback run once per request', async (t) => {
  let calls = 0;
  const { port } = await serveHttps(t, {
    tls: {
      ca: certs.ca,
      SNICallback: (_name: string, cb: (e: Error | null, c?: tls.SecureContext) => void) => {
        calls++;
        cb(null, undefined);
      },
    },
    setup: (server) => (server.keepAliveTimeout = 30_000),
  });
  const connect = (session?: Buffer): tls.TLSSocket =>
    tlsClient(t, { port, servername: 'a.localhost', maxVersion: 'TLSv1.2', session });
  const first = connect();
  await waitFor(first, 'secureConnect', SOON);
  t.equal((await rawHttp(first)('GET', '/', { host: 'a.localhost' })).status, 200, 'full handshake served');
  const session = first.getSession();
  first.destroy();
  const second = connect(session);
  await waitFor(second, 'secureConnect', SOON);
  t.equal(second.isSessionReused(), true, 'the session resumed');
  const send = rawHttp(second);
  const before = calls;
  for (let index = 0; index < REQUESTS; index++) await send('GET', '/', { host: `n${index}.localhost` });
  const asked = calls - before;
  t.ok(asked <= 16, `the SNICallback ran ${asked} times for ${REQUESTS} requests on one connection`);
});
